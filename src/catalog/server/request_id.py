"""X-Request-ID: keep a well-formed incoming id, else mint one; bind it to every log line.

A valid W3C `traceparent` is bound the same way (see trace_context.py): the caller's trace id
reaches every log line of the request, and the response answers with a `traceresponse`.
"""

from __future__ import annotations

import re

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from catalog.core.ids import new_id
from catalog.observability import trace_context
from catalog.observability.trace_context import TraceContext, parse_traceparent

HEADER = b"x-request-id"
# An incoming id is echoed into logs and headers: accept only short, printable tokens.
_VALID = re.compile(rb"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}$")
_REPLACED = (HEADER, trace_context.RESPONSE_HEADER)


def incoming_request_id(scope: Scope) -> str | None:
    return _incoming(scope)[0]


def _incoming(scope: Scope) -> tuple[str | None, TraceContext | None]:
    """The valid request id and trace context the caller sent (the first of each header)."""
    request_id: bytes | None = None
    traceparent: bytes | None = None
    for name, value in scope.get("headers", ()):
        if name == HEADER:
            if request_id is None:
                request_id = value
        elif name == trace_context.HEADER and traceparent is None:
            traceparent = value
    return (
        request_id.decode("ascii") if request_id is not None and _VALID.match(request_id) else None,
        parse_traceparent(traceparent) if traceparent is not None else None,
    )


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming_id, trace = _incoming(scope)
        request_id = incoming_id or new_id()
        # A per-request copy: servers hand each request the lifespan state, and not all of
        # them copy it (asgi-lifespan shares one dict), so writing into it would leak values
        # between concurrent requests.
        state = {**(scope.get("state") or {}), "request_id": request_id}
        header = (HEADER, request_id.encode("ascii"))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", []) if h[0].lower() not in _REPLACED]
                headers.append(header)
                if trace is not None:
                    # Formatted now: with export on, the server span has put its id in by now.
                    headers.append((trace_context.RESPONSE_HEADER, trace.traceresponse()))
                message["headers"] = headers
            await send(message)

        # bind/reset rather than the bound_contextvars() context manager: a third of the cost.
        if trace is None:
            tokens = structlog.contextvars.bind_contextvars(request_id=request_id)
        else:
            state["trace_context"] = trace  # the server span (tracing.py) fills in its ids
            tokens = structlog.contextvars.bind_contextvars(
                request_id=request_id,
                trace_id=trace.trace_id,
                span_id=trace.span_id,
                parent_span_id=trace.parent_span_id,
            )
        scope["state"] = state
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            structlog.contextvars.reset_contextvars(**tokens)
