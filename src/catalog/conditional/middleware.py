"""Conditional GETs: an ETag on every JSON answer of a resource, 304 for a client that has it.

A 200 answer to GET or HEAD whose body is JSON gets a strong `ETag`, the hash of its exact
bytes (`catalog.conditional.etags.etag_of`, the same hash services use to check `If-Match`),
unless the handler set one itself. When the request's `If-None-Match` names it (weak
comparison, a comma list, or `*`; RFC 9110 §13.1.2) the answer becomes `304 Not Modified`
without a body: a client polling a product or a page it already holds pays for the query but
not for the transfer. The 304 keeps every header but the representation's `Content-Type` and
`Content-Length` (§15.4.5), so `ETag`, `Cache-Control` and `Vary` are there.

`Cache-Control: private, no-cache` goes with the ETag unless the handler chose a policy:
answers depend on who asks (a viewer of another team does not see a restricted product, roles
decide what is readable), so no shared cache may store them (`private`), and a client may keep
its copy but must revalidate it on every use (`no-cache`) because any write can change it at
once; revalidation with the ETag is the cheap 304 above, so nobody reads stale data after a
write returns.

HEAD is answered as the GET of the same path without its body (RFC 9110 §9.3.2): FastAPI
routes declare GET only, so without this HEAD would be a 405. The scope says GET to the app
inside and HEAD again once the answer is out, so metrics and logs outside record HEAD.

Skipped: other methods (one comparison, no wrapper), answers other than 200, non-JSON bodies
(`/metrics` is text anyway and is skipped by path so scrapes never pay for a hash), and
streamed answers (more than one body message: they are passed on as they come, unbuffered).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from catalog.conditional.etags import etag_of, none_match
from catalog.core.media_types import is_json

READ_METHODS = frozenset({"GET", "HEAD"})
SKIPPED_PATHS = frozenset({"/metrics"})
CACHE_CONTROL = b"private, no-cache"
_NOT_IN_304 = frozenset({b"content-length", b"content-type"})


def _request_header(scope: Scope, name: bytes) -> str | None:
    """A request header's value, repeated fields joined with commas (RFC 9110 §5.3)."""
    values = [value for key, value in scope.get("headers", ()) if key.lower() == name]
    return b", ".join(values).decode("latin-1") if values else None


def _is_json(headers: list[tuple[bytes, bytes]]) -> bool:
    for key, value in headers:
        if key.lower() == b"content-type":
            return is_json(value)
    return False


class ConditionalMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] not in READ_METHODS
            or scope["path"] in SKIPPED_PATHS
        ):
            await self.app(scope, receive, send)
            return
        head = scope["method"] == "HEAD"
        answer = _ConditionalAnswer(send, _request_header(scope, b"if-none-match"), head=head)
        if not head:
            await self.app(scope, receive, answer.send)
            return
        scope["method"] = "GET"  # in place: the route the router records stays visible outside
        try:
            await self.app(scope, receive, answer.send)
        finally:
            scope["method"] = "HEAD"


class _ConditionalAnswer:
    """Holds back a 200 JSON answer's start until its body is known, then tags it."""

    def __init__(self, send: Send, if_none_match: str | None, *, head: bool) -> None:
        self._send = send
        self._if_none_match = if_none_match
        self._head = head
        self._start: Message | None = None
        self._decided = False

    async def send(self, message: Message) -> None:
        if self._decided:
            await self._forward(message)
            return
        if message["type"] == "http.response.start":
            headers = [(bytes(k), bytes(v)) for k, v in message.get("headers", ())]
            if message["status"] == 200 and _is_json(headers):
                self._start = {**message, "headers": headers}
                return
            self._decided = True
            await self._send(message)
            return
        start, self._start = self._start, None
        self._decided = True
        if start is None:
            await self._forward(message)
            return
        if message["type"] != "http.response.body" or message.get("more_body", False):
            await self._send(start)  # streamed (or not a body): passed on untagged
            await self._forward(message)
            return
        await self._tagged(start, message.get("body", b""))

    async def _forward(self, message: Message) -> None:
        if self._head and message["type"] == "http.response.body" and message.get("body"):
            message = {**message, "body": b""}  # Content-Length still gives the GET's size
        await self._send(message)

    async def _tagged(self, start: Message, body: bytes) -> None:
        headers: list[tuple[bytes, bytes]] = start["headers"]
        names = {key.lower() for key, _ in headers}
        etag = next((v.decode("latin-1") for k, v in headers if k.lower() == b"etag"), None)
        if etag is None:
            etag = etag_of(body)
            headers.append((b"etag", etag.encode("latin-1")))
        if b"cache-control" not in names:
            headers.append((b"cache-control", CACHE_CONTROL))
        if self._if_none_match is not None and none_match(self._if_none_match, etag):
            kept = [(k, v) for k, v in headers if k.lower() not in _NOT_IN_304]
            await self._send({**start, "status": 304, "headers": kept})
            await self._send({"type": "http.response.body", "body": b""})
            return
        await self._send(start)
        await self._forward({"type": "http.response.body", "body": body})
