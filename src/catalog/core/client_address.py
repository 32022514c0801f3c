"""Who a request comes from (rate-limit buckets, audit lines, the access log): never what the
client merely claims.

The client is the socket peer's address (never with its port: every new connection has a new
port). Only when the peer is one of `TRUSTED_PROXIES` is `X-Forwarded-For` read, from the
right: each trusted hop is skipped and the first untrusted address is the client. Addresses
the client wrote further left are never used, so it cannot mint buckets by inventing them.
IPv6 clients are grouped by /64, the block one subscriber usually holds.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from functools import lru_cache

from starlette.types import Scope

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _parse(text: str) -> IPAddress | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # [v6]:port
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # v4:port
        text = text.split(":", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _trusted(address: IPAddress, proxies: Sequence[IPNetwork]) -> bool:
    return any(address in network for network in proxies)


def _forwarded_for(scope: Scope) -> list[str]:
    hops: list[str] = []
    for name, value in scope.get("headers", ()):
        if name == b"x-forwarded-for":
            hops += value.decode("latin-1").split(",")
    return hops


def forwarded_https(scope: Scope, proxies: Sequence[IPNetwork]) -> bool:
    """Whether a trusted proxy says the client's request came over HTTPS (the proxy's
    `X-Forwarded-Proto`; from anyone else the header is not believed)."""
    client = scope.get("client")
    peer = _parse(client[0]) if client else None
    if peer is None or not proxies or not _trusted(peer, proxies):
        return False
    protos = [v for k, v in scope.get("headers", ()) if k == b"x-forwarded-proto"]
    return bool(protos) and protos[-1].decode("latin-1").split(",")[0].strip().lower() == "https"


def client_address(scope: Scope, proxies: Sequence[IPNetwork]) -> IPAddress | None:
    client = scope.get("client")
    peer = _parse(client[0]) if client else None
    if peer is None or not proxies or not _trusted(peer, proxies):
        return peer
    for hop in reversed(_forwarded_for(scope)):
        address = _parse(hop)
        if address is None:
            break  # a proxy wrote garbage: fall back to the last address we could trust
        if not _trusted(address, proxies):
            return address
        peer = address
    return peer


def client_key(address: IPAddress | None) -> str:
    """The bucket key of an address: the address itself, or its /64 for IPv6."""
    if address is None:
        return "unknown"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


@lru_cache(maxsize=65_536)
def _identity_of(address: IPAddress | None) -> tuple[str | None, str]:
    return (str(address) if address is not None else None), client_key(address)


@lru_cache(maxsize=65_536)
def _peer_identity(host: str) -> tuple[str | None, str]:
    return _identity_of(_parse(host))


def client_identity(scope: Scope, proxies: Sequence[IPNetwork]) -> tuple[str | None, str]:
    """(client address as text, bucket key); cached per peer, the common case's hot path."""
    client = scope.get("client")
    if not proxies:
        return _peer_identity(client[0]) if client else (None, "unknown")
    return _identity_of(client_address(scope, proxies))
