"""A `send` that remembers whether the response has started.

Once `http.response.start` has gone out, the status and headers are the client's: an error
can no longer be answered with the envelope, only logged. The error middleware and the
request timeout both wrap `send` in this to know which case they are in (one watch, not two
hand-written closures).
"""

from __future__ import annotations

from starlette.types import Message, Send


class StartWatch:
    """Forwards every message to `send`; `started` turns True with the response's start."""

    __slots__ = ("_send", "started")

    def __init__(self, send: Send) -> None:
        self._send = send
        self.started = False

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)
