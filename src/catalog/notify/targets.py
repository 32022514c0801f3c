"""The SSRF guard: a webhook may not point into the catalog's own network.

A subscriber chooses the URL the catalog will POST to, so without a check anyone with an
editor's key could make the service call its own database, cloud metadata endpoint
(169.254.169.254) or admin ports. Every address the host name resolves to must be public:
private, loopback, link-local, multicast, reserved and unspecified addresses are refused,
unless CATALOG_NOTIFY_ALLOWED_HOSTS names the host or a network holding the address.

Checked twice: when subscribing (422) and at each delivery. At delivery the check's answer is
also what is connected to (`Target.address`): the request goes to that IP with the original
`Host` and TLS server name, so a name that resolves to a public address for the check and to
a private one a moment later (DNS rebinding) cannot slip through between the two.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class TargetRefused(ValueError):
    """The URL may not be called (its message says why, for the subscriber)."""


class TargetUnresolved(OSError):
    """The host name did not resolve now (perhaps a passing DNS failure: retried)."""


@dataclass(frozen=True)
class AllowList:
    hosts: frozenset[str]
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]

    @classmethod
    def parse(cls, entries: tuple[str, ...]) -> AllowList:
        hosts, networks = set(), []
        for entry in entries:
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                hosts.add(entry.lower().rstrip("."))
        return cls(frozenset(hosts), tuple(networks))

    def admits(self, host: str, address: IPAddress) -> bool:
        return host in self.hosts or any(address in net for net in self.networks)


@dataclass(frozen=True)
class Target:
    url: str
    host: str
    port: int
    address: str  # the checked IP the request is sent to

    def pinned_url(self) -> str:
        """The URL with its host replaced by the checked address (brackets for IPv6)."""
        parts = urlsplit(self.url)
        literal = f"[{self.address}]" if ":" in self.address else self.address
        netloc = f"{literal}:{parts.port}" if parts.port else literal
        return parts._replace(netloc=netloc).geturl()

    @property
    def host_header(self) -> str:
        default = {"http": 80, "https": 443}[urlsplit(self.url).scheme]
        return self.host if self.port == default else f"{self.host}:{self.port}"


def _internal(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not address.is_global or address.is_multicast


def split_url(url: str) -> tuple[str, int]:
    """(host, port) of an http(s) URL, or TargetRefused saying what is wrong with it."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise TargetRefused(f"not a valid URL: {error}") from None
    if parts.scheme not in ("http", "https"):
        raise TargetRefused("only http and https URLs can be called")
    if not parts.hostname:
        raise TargetRefused("the URL names no host")
    if parts.username or parts.password:
        raise TargetRefused("credentials in the URL are not accepted; use the secret")
    return parts.hostname.lower().rstrip("."), port or (443 if parts.scheme == "https" else 80)


RESOLVE_TIMEOUT_S = 2.0


async def resolve_target(url: str, allow: AllowList) -> Target:
    """The URL's target with one checked address, or TargetRefused / TargetUnresolved."""
    host, port = split_url(url)
    try:
        literal: IPAddress | None = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [literal]
    else:
        try:
            found = await asyncio.wait_for(
                asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM),
                RESOLVE_TIMEOUT_S,
            )
        except (socket.gaierror, UnicodeError) as error:
            raise TargetUnresolved(f"{host} does not resolve: {error}") from None
        except TimeoutError:
            raise TargetUnresolved(
                f"{host} did not resolve within {RESOLVE_TIMEOUT_S:g} s"
            ) from None
        addresses = [ipaddress.ip_address(info[4][0]) for info in found]
    if not addresses:
        raise TargetUnresolved(f"{host} does not resolve")
    for address in addresses:
        if _internal(address) and not allow.admits(host, address):
            raise TargetRefused(
                f"{host} resolves to {address}, a private, loopback or link-local address; "
                "name it in CATALOG_NOTIFY_ALLOWED_HOSTS to allow it"
            )
    return Target(url, host, port, str(addresses[0]))
