"""A real SMTP server (aiosmtpd) on a free local port that keeps what it is sent: for the
alert email sink and the notifications' email channel."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aiosmtpd.controller import Controller

from tests.support.servers import free_port


class Mailbox:
    def __init__(self) -> None:
        self.envelopes: list[Any] = []  # aiosmtpd Envelopes: rcpt_tos, content (bytes)
        self.port = 0

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
        self.envelopes.append(envelope)
        return "250 OK"


@contextmanager
def smtp_server() -> Iterator[Mailbox]:
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    mailbox.port = controller.port
    try:
        yield mailbox
    finally:
        controller.stop()
