"""X-Request-ID: keep a well-formed incoming id, else mint one; bind it to every log line."""

from __future__ import annotations

import re

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from catalog.kit.ids import new_id

HEADER = b"x-request-id"
# An incoming id is echoed into logs and headers: accept only short, printable tokens.
_VALID = re.compile(rb"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}$")


def incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == HEADER:
            return value.decode("ascii") if _VALID.match(value) else None
    return None


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = incoming_request_id(scope) or new_id()
        # A per-request copy: servers hand each request the lifespan state, and not all of
        # them copy it (asgi-lifespan shares one dict), so writing into it would leak values
        # between concurrent requests.
        scope["state"] = {**(scope.get("state") or {}), "request_id": request_id}
        header = (HEADER, request_id.encode("ascii"))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", []) if h[0].lower() != HEADER]
                headers.append(header)
                message["headers"] = headers
            await send(message)

        # bind/reset rather than the bound_contextvars() context manager: a third of the cost.
        tokens = structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            structlog.contextvars.reset_contextvars(**tokens)
