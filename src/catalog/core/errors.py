"""One error family, one envelope, one renderer.

Every error the service produces, wherever it starts (a service rule, request validation,
routing, the rate limiter, auth, a dependency outage, an unhandled exception) leaves as the
envelope of API.md:

    {"error": {"code", "message", "details", "retry_after"?, "timestamp", "request_id",
               "errors"?}}
"""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import Any

import orjson
from starlette.types import Scope, Send

from catalog.core.time import isoformat_z, utcnow


class CatalogError(Exception):
    """An error with an HTTP status, safe to show to the client as-is."""

    status = 500

    def __init__(
        self,
        details: str | None = None,
        *,
        status: int | None = None,
        headers: dict[str, str] | None = None,
        retry_after: int | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        if status is not None:
            self.status = status
        self.details = details or HTTPStatus(self.status).phrase
        self.headers = dict(headers or {})
        self.retry_after = retry_after
        self.extra = dict(extra or {})
        super().__init__(self.details)


class BadRequest(CatalogError):
    status = 400


class Unauthorized(CatalogError):
    status = 401


class Forbidden(CatalogError):
    status = 403


class NotFound(CatalogError):
    status = 404

    def __init__(self, resource: str, identifier: object) -> None:
        super().__init__(f"{resource} {identifier!s} not found")


class Conflict(CatalogError):
    status = 409


def still_referenced(what: str, referrers: list[tuple[str, str, str]]) -> Conflict:
    """409 naming who still refers to `what`: (type, id, name) triples, first few shown."""
    names = ", ".join(f"{kind} {name!r}" for kind, _, name in referrers[:5])
    more = f" and {len(referrers) - 5} more" if len(referrers) > 5 else ""
    error = Conflict(f"{what} is still referenced by {names}{more}")
    error.extra = {
        "referrers": [{"type": kind, "id": id_, "name": name} for kind, id_, name in referrers]
    }
    return error


class PreconditionFailed(CatalogError):
    status = 412


class PayloadTooLarge(CatalogError):
    status = 413


class UnsupportedMediaType(CatalogError):
    status = 415


class Unprocessable(CatalogError):
    status = 422


class TooManyRequests(CatalogError):
    status = 429


class ServiceUnavailable(CatalogError):
    """A dependency is down or the service is shedding load; the client should retry."""

    status = 503

    def __init__(self, details: str, *, retry_after: int, headers: dict[str, str] | None = None):
        super().__init__(details, retry_after=retry_after, headers=headers)


def envelope(
    status: int,
    details: str,
    *,
    request_id: str | None,
    retry_after: int | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "code": status,
        "message": HTTPStatus(status).phrase,
        "details": details,
    }
    if retry_after is not None:
        body["retry_after"] = retry_after
    body["timestamp"] = isoformat_z(utcnow())
    body["request_id"] = request_id
    if extra:
        body.update(extra)
    return {"error": body}


def error_headers(error: CatalogError) -> dict[str, str]:
    headers = dict(error.headers)
    if error.retry_after is not None:
        headers["Retry-After"] = str(error.retry_after)
    return headers


def render(error: CatalogError, request_id: str | None) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body bytes for an error."""
    body = orjson.dumps(
        envelope(
            error.status,
            error.details,
            request_id=request_id,
            retry_after=error.retry_after,
            extra=error.extra,
        )
    )
    return error.status, error_headers(error), body


async def send_error(scope: Scope, send: Send, error: CatalogError) -> None:
    """Send an error response straight from ASGI middleware (no Starlette Response needed)."""
    status, headers, body = render(error, request_id_of(scope))
    raw_headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    raw_headers += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})


def request_id_of(scope: Scope) -> str | None:
    state = scope.get("state") or {}
    value = state.get("request_id")
    return value if isinstance(value, str) else None


_SAFE_TEXT = re.compile(r"[\x00-\x1f\x7f]")


def clean_text(text: str, limit: int = 300) -> str:
    """Client-supplied text echoed in an error: no control characters, bounded length."""
    text = _SAFE_TEXT.sub("?", text)
    return text if len(text) <= limit else text[: limit - 1] + "…"
