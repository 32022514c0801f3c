"""Refuse hostile request framing before any handler sees it.

- Paths and query strings must percent-decode to UTF-8 without control characters (400):
  PostgreSQL rejects NUL in text and nothing legitimate sends raw control bytes.
- Bodies are bounded by `CATALOG_MAX_BODY_BYTES` (413), by `Content-Length` up front and by
  counting streamed chunks, so a chunked upload cannot slip past the header check.
- Before a 413 the rest of the body is read and thrown away, up to
  `CATALOG_MAX_BODY_DRAIN_BYTES` (counted from the body's start) and for at most
  `CATALOG_MAX_BODY_DRAIN_S`, and the 413 says `Connection: close`. Many clients (urllib,
  requests) write the whole body before reading: closing a socket with their unread bytes in
  its buffer makes the kernel send a reset, and they see that instead of the 413. Past the
  bounds the connection is closed at once, as before. A client that sent
  `Expect: 100-continue` has not sent its body yet, so nothing is drained for it.
- A body on POST/PUT/PATCH must be JSON (415): every API write endpoint speaks JSON only. The
  web UI's pages (`/ui/...`) take HTML form posts (`application/x-www-form-urlencoded`).
"""

from __future__ import annotations

import re
from urllib.parse import unquote_to_bytes

import anyio
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from catalog.core.errors import (
    BadRequest,
    CatalogError,
    PayloadTooLarge,
    UnsupportedMediaType,
    send_error,
)
from catalog.core.media_types import is_form, is_json

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def _is_page(scope: Scope) -> bool:
    path: str = scope["path"]
    return path.startswith("/ui/")


def _bad_text(raw: bytes) -> str | None:
    """Why a raw path or query string is unacceptable, or None."""
    try:
        text = unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        return "is not valid UTF-8"
    if _CONTROL.search(text):
        return "contains control characters"
    return None


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value)
    return None


class BodyGuardMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        drain_bytes: int = 0,
        drain_s: float = 0.0,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.drain_bytes = drain_bytes
        self.drain_s = drain_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rejection = self._reject_framing(scope)
        if rejection is not None:
            if isinstance(rejection, PayloadTooLarge) and self._may_drain(scope):
                await self._drain(receive, 0)
            await send_error(scope, send, rejection)
            return
        await self.app(scope, self._bounded(receive), send)

    def _reject_framing(self, scope: Scope) -> CatalogError | None:
        raw_path = scope.get("raw_path") or scope["path"].encode("utf-8", "surrogateescape")
        for part, raw in (("path", raw_path), ("query string", scope.get("query_string", b""))):
            reason = _bad_text(raw)
            if reason:
                return BadRequest(f"the request {part} {reason}")
        if scope["method"] not in _BODY_METHODS:
            return None
        length = _header(scope, b"content-length")
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                return BadRequest("Content-Length is not a number")
            if declared > self.max_body_bytes:
                return self._too_large()
            if declared == 0:
                return None
        elif _header(scope, b"transfer-encoding") is None:
            return None  # no body at all; validation reports a missing body if one is needed
        content_type = _header(scope, b"content-type")
        if content_type is not None and _is_page(scope) and is_form(content_type):
            return None
        if content_type is None or not is_json(content_type):
            shown = content_type.decode("latin-1") if content_type else "none"
            return UnsupportedMediaType(
                f"request bodies must be application/json (got {shown[:100]})"
            )
        return None

    def _too_large(self) -> PayloadTooLarge:
        return PayloadTooLarge(
            f"request body exceeds the limit of {self.max_body_bytes} bytes",
            headers={"Connection": "close"},
        )

    def _may_drain(self, scope: Scope) -> bool:
        """Whether a body refused by its Content-Length is worth reading through."""
        expect = _header(scope, b"expect")
        if expect is not None and expect.lower() == b"100-continue":
            return False  # the client waits for our answer before sending the body
        return int(_header(scope, b"content-length") or 0) <= self.drain_bytes

    async def _drain(self, receive: Receive, received: int) -> None:
        """Read and discard the rest of the body, within the drain bounds."""
        with anyio.move_on_after(self.drain_s):
            while received <= self.drain_bytes:
                message = await receive()
                if message["type"] != "http.request":
                    return
                received += len(message.get("body", b""))
                if not message.get("more_body", False):
                    return

    def _bounded(self, receive: Receive) -> Receive:
        received = 0
        limit = self.max_body_bytes

        async def bounded_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    if message.get("more_body", False):
                        await self._drain(receive, received)
                    error = self._too_large()
                    # An HTTPException is the one kind FastAPI's body reader lets through as-is.
                    raise HTTPException(413, detail=error.details, headers=error.headers)
            return message

        return bounded_receive
