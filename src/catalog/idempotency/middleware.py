"""`Idempotency-Key` on POST (draft-ietf-httpapi-idempotency-key-header), as pure ASGI middleware.

A POST carrying `Idempotency-Key: <key>` runs at most once per principal and key:

- first time: the key is claimed (`processing`), the request runs, and its answer (status,
  body, `Content-Type`, `Location`, `ETag`) is stored before it is sent;
- a retry with the same key, method, path and body gets the stored answer back with
  `Idempotent-Replayed: true`, without running again;
- the same key with another body, method or path: 422; while the first attempt is still
  running: 409 with `Retry-After: 1`;
- a first attempt answered 5xx or 429 (or that raised, or was cancelled) frees the key, so
  the client can retry with it, unless its database transaction committed (the attempt id is
  stamped in that very transaction, deps.get_session): a request whose writes are in is never
  run again. Its retries get 409 while the attempt may still store its answer, then 409
  saying it was applied and its answer lost (read the resource, or use a new key).

Keys are scoped by the principal's subject (`anonymous` without auth), so two callers never
see each other's answers. A key is 1..255 printable ASCII characters (the draft's quoted
sf-string form is accepted too); anything else is a 422. A database that cannot be reached
while claiming the key is a 503 with `Retry-After`: without the key the request cannot be
made safe to retry, so it does not run.

Trade-offs: an attempt whose process died before committing leaves its key `processing`;
after `CATALOG_IDEMPOTENCY_LOCK_TIMEOUT_S` another attempt may take it over and run the request
(which never committed) again. That lock timeout must exceed the longest a request can run
(`CATALOG_REQUEST_TIMEOUT_S`), or a slow first attempt could be run twice. If storing the
answer fails (the database went away after the handler committed), the real answer is still
sent; the key stays `processing` and, being committed, is never run again.
"""

from __future__ import annotations

import asyncio
import hashlib

import sqlalchemy.exc
from prometheus_client import Counter
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from catalog.core.errors import (
    CatalogError,
    Conflict,
    ServiceUnavailable,
    Unprocessable,
    send_error,
)
from catalog.core.logging import get_logger
from catalog.idempotency.store import (
    Applied,
    Claimed,
    IdempotencyStore,
    InProgress,
    KeyedRequest,
    Mismatch,
    Replay,
)
from catalog.identity.principal import ANONYMOUS, Principal

log = get_logger(__name__)

HEADER = b"idempotency-key"
ATTEMPT = "idempotency_attempt"  # scope["state"] key: the attempt id of this keyed request
MAX_KEY_LENGTH = 255
MAX_SCOPE_LENGTH = 255
# Headers of the first answer that a replay repeats (the body's type, what was created).
REPLAYED_HEADERS = frozenset({"content-type", "location", "etag"})
DATABASE_ERRORS = (sqlalchemy.exc.SQLAlchemyError, OSError, TimeoutError)

OUTCOMES = Counter(
    "catalog_idempotency_requests_total",
    "POST requests with an Idempotency-Key, by what became of the key",
    ("outcome",),
)


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp, *, retry_after: int) -> None:
        self.app = app
        self.retry_after = retry_after

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        values = [bytes(v) for k, v in scope.get("headers", ()) if k == HEADER]
        if not values:
            await self.app(scope, receive, send)
            return
        try:
            await self._keyed(scope, receive, send, parse_key(values))
        except _Refused as refusal:
            await send_error(scope, send, refusal.error)

    async def _keyed(self, scope: Scope, receive: Receive, send: Send, key: str) -> None:
        body = await _read_body(receive)
        if body is None:
            return  # the client went away before sending its body
        store: IdempotencyStore = scope["state"]["catalog"].idempotency
        request = KeyedRequest(
            scope=principal_scope(scope),
            key=key,
            method=scope["method"],
            path=_target(scope),
            fingerprint=hashlib.sha256(body).hexdigest(),
        )
        try:
            outcome = await store.claim(request)
        except DATABASE_ERRORS as exc:
            OUTCOMES.labels("unavailable").inc()
            log.warning("idempotency_store_unavailable", error=repr(exc)[:500])
            raise _Refused(
                ServiceUnavailable(
                    "idempotency keys cannot be checked: database unavailable",
                    retry_after=self.retry_after,
                )
            ) from exc
        if isinstance(outcome, Mismatch):
            OUTCOMES.labels("mismatch").inc()
            raise _Refused(
                Unprocessable(
                    "this Idempotency-Key was already used for a different request "
                    f"({outcome.method} {outcome.path} with another body); use a new key"
                )
            )
        if isinstance(outcome, InProgress):
            OUTCOMES.labels("in_progress").inc()
            raise _Refused(
                Conflict(
                    "a request with this Idempotency-Key is still being processed",
                    retry_after=1,
                )
            )
        if isinstance(outcome, Applied):
            OUTCOMES.labels("applied").inc()
            raise _Refused(
                Conflict(
                    "the request with this Idempotency-Key was applied, but its answer was "
                    "lost; read the resource to see the result, or use a new key"
                )
            )
        if isinstance(outcome, Replay):
            OUTCOMES.labels("replayed").inc()
            await _send_replay(send, outcome)
            return
        if outcome.took_over:
            log.warning("idempotency_key_taken_over", key=key, scope=request.scope)
        # deps.get_session stamps the attempt in the request's own transaction.
        scope.setdefault("state", {})[ATTEMPT] = outcome.attempt_id
        await self._first_attempt(scope, send, store, outcome, _replaying(body, receive))

    async def _first_attempt(
        self, scope: Scope, send: Send, store: IdempotencyStore, claim: Claimed, receive: Receive
    ) -> None:
        """Run the request, holding its answer back until it is stored (or the key released).

        Held back so that a client that gets the answer and retries at once finds the key
        completed, never still `processing`.
        """
        start: Message | None = None
        chunks: list[bytes] = []
        finished = False

        async def capturing_send(message: Message) -> None:
            nonlocal start, finished
            if message["type"] == "http.response.start":
                start = message
                return
            if message["type"] != "http.response.body" or start is None:
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            body = b"".join(chunks)
            finished = True
            await _settle(store, claim, start, body)
            await send(start)
            await send({"type": "http.response.body", "body": body})

        try:
            await self.app(scope, receive, capturing_send)
        except BaseException:
            if not finished:
                await _release_quietly(store, claim)
            raise
        if not finished:  # the app ended without a complete answer
            await _release_quietly(store, claim)


class _Refused(Exception):
    def __init__(self, error: CatalogError) -> None:
        super().__init__(error.details)
        self.error = error


def parse_key(values: list[bytes]) -> str:
    """The key of the header, or 422: exactly one, 1..255 printable ASCII characters."""
    if len(values) != 1:
        raise _Refused(Unprocessable("send exactly one Idempotency-Key header"))
    raw = values[0].strip()
    if len(raw) >= 2 and raw[:1] == raw[-1:] == b'"':
        raw = raw[1:-1]  # the draft's sf-string form: "8e03978e-40d5-43e8-bc93-6894a57f9324"
    if not 1 <= len(raw) <= MAX_KEY_LENGTH or any(b < 0x20 or b > 0x7E for b in raw):
        raise _Refused(
            Unprocessable(
                f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable ASCII characters"
            )
        )
    return raw.decode("ascii")


def principal_scope(scope: Scope) -> str:
    """Whose keys these are: the principal's subject, `anonymous` when nobody signed in."""
    principal = (scope.get("state") or {}).get("principal")
    subject = principal.subject if isinstance(principal, Principal) else ANONYMOUS
    if len(subject) > MAX_SCOPE_LENGTH:  # a long JWT subject: a digest is as distinct
        subject = "sha256:" + hashlib.sha256(subject.encode()).hexdigest()
    return subject


def _target(scope: Scope) -> str:
    query = scope.get("query_string", b"")
    path: str = scope["path"]
    return f"{path}?{query.decode('latin-1')}" if query else path


async def _read_body(receive: Receive) -> bytes | None:
    """The whole body (the body guard before us bounds it), or None on a disconnect."""
    chunks: list[bytes] = []
    while True:
        try:
            message = await receive()
        except HTTPException as exc:  # the body guard's 413 for an over-long chunked body
            detail = exc.detail if isinstance(exc.detail, str) else None
            raise _Refused(CatalogError(detail, status=exc.status_code)) from exc
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replaying(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands the app the body already read, then waits as the original."""
    pending = True

    async def replay_receive() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay_receive


async def _settle(store: IdempotencyStore, claim: Claimed, start: Message, body: bytes) -> None:
    """Store the answer, or free the key when the answer says "try again"."""
    status = int(start["status"])
    if status >= 500 or status == 429:
        await _release_quietly(store, claim)
        return
    headers = {
        name.decode("latin-1"): value.decode("latin-1")
        for name, value in start.get("headers", ())
        if name.decode("latin-1").lower() in REPLAYED_HEADERS
    }
    try:
        # Shielded: a timeout cancelling the request must not cancel the write half-way.
        stored = await asyncio.shield(store.complete(claim.attempt_id, status, headers, body))
    except DATABASE_ERRORS as exc:
        OUTCOMES.labels("store_failed").inc()
        log.warning("idempotency_store_failed", error=repr(exc)[:500])
        return
    OUTCOMES.labels("stored" if stored else "superseded").inc()


async def _release_quietly(store: IdempotencyStore, claim: Claimed) -> None:
    """Free the key unless the request committed; if the database is down, the key frees
    itself after the lock timeout (or, committed, stays applied)."""
    try:
        freed = await asyncio.shield(store.release(claim.attempt_id))
    except DATABASE_ERRORS as exc:
        OUTCOMES.labels("released").inc()
        log.warning("idempotency_release_failed", error=repr(exc)[:500])
        return
    OUTCOMES.labels("released" if freed else "committed_kept").inc()


async def _send_replay(send: Send, replay: Replay) -> None:
    headers = [
        (name.lower().encode("latin-1"), value.encode("latin-1"))
        for name, value in replay.headers.items()
    ]
    headers += [
        (b"content-length", str(len(replay.body)).encode()),
        (b"idempotent-replayed", b"true"),
    ]
    await send({"type": "http.response.start", "status": replay.status, "headers": headers})
    await send({"type": "http.response.body", "body": replay.body})
