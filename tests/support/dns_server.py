"""A DNS server answering A records for a few names: the stand-in for Docker's embedded DNS
(127.0.0.11) when a compose stack's proxy configuration runs outside Docker."""

from __future__ import annotations

from typing import Any

from dnslib import QTYPE, RCODE, RR, A
from dnslib.server import BaseResolver, DNSLogger, DNSServer


class _Names(BaseResolver):  # type: ignore[misc]  # dnslib is untyped
    def __init__(self, names: dict[str, list[str]]) -> None:
        self.names = {name.rstrip(".") + ".": addresses for name, addresses in names.items()}

    def resolve(self, request: Any, handler: Any) -> Any:
        reply = request.reply()
        name = str(request.q.qname)
        addresses = self.names.get(name)
        if addresses is None:
            reply.header.rcode = RCODE.NXDOMAIN
        elif request.q.qtype == QTYPE.A:
            for address in addresses:
                reply.add_answer(RR(name, QTYPE.A, rdata=A(address), ttl=5))
        return reply


class NameServer:
    """UDP on `address`:`port`, in a thread, until stop()."""

    def __init__(self, names: dict[str, list[str]], address: str, port: int = 53) -> None:
        quiet = DNSLogger(log="-request,-reply,-truncated,-error,-recv,-send", prefix=False)
        self._server = DNSServer(_Names(names), address=address, port=port, logger=quiet)

    def start(self) -> None:
        self._server.start_thread()

    def stop(self) -> None:
        self._server.stop()
        self._server.server.server_close()
