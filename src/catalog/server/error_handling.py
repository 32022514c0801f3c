"""Turn every failure into the envelope: FastAPI exception handlers plus a last-resort middleware.

FastAPI's handlers cover what Starlette raises while routing (404, 405) and request
validation (422, or 400 for malformed JSON). `ErrorMiddleware` catches whatever escapes the
app: a `CatalogError` raised outside a route, a dependency outage (-> 503 + Retry-After), or a
bug (-> 500 whose body names only the request id; the stack goes to the log line with that id).
"""

from __future__ import annotations

import asyncio
from typing import Any

import redis.exceptions
import sqlalchemy.exc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from catalog.core.errors import (
    BadRequest,
    CatalogError,
    Conflict,
    ServiceUnavailable,
    Unprocessable,
    clean_text,
    render,
    request_id_of,
    send_error,
)
from catalog.core.logging import get_logger
from catalog.core.routes import allowed_methods
from catalog.observability.error_tracking import report_exception
from catalog.observability.tracing import record_exception
from catalog.server.response_started import StartWatch

log = get_logger(__name__)


def dependency_failure(exc: BaseException, retry_after: int) -> CatalogError | None:
    """Map an exception from a dependency to the error a client should see, if it is one."""
    if isinstance(exc, sqlalchemy.exc.TimeoutError):
        return ServiceUnavailable("database connection pool exhausted", retry_after=retry_after)
    if isinstance(exc, sqlalchemy.exc.IntegrityError):
        return Conflict("the change conflicts with existing data")
    if isinstance(exc, sqlalchemy.exc.DataError):
        return Unprocessable("a value is not acceptable to the database")
    if isinstance(exc, sqlalchemy.exc.OperationalError | sqlalchemy.exc.InterfaceError):
        return ServiceUnavailable("database unavailable", retry_after=retry_after)
    if isinstance(exc, sqlalchemy.exc.DBAPIError) and exc.connection_invalidated:
        return ServiceUnavailable("database unavailable", retry_after=retry_after)
    if isinstance(exc, redis.exceptions.ConnectionError | redis.exceptions.TimeoutError):
        return ServiceUnavailable("redis unavailable", retry_after=retry_after)
    if isinstance(exc, OSError | TimeoutError | asyncio.TimeoutError):
        return ServiceUnavailable("a dependency is unavailable", retry_after=retry_after)
    return None


def _error_response(request: Request, error: CatalogError) -> Response:
    status, headers, body = render(error, request_id_of(request.scope))
    return Response(body, status_code=status, headers=headers, media_type="application/json")


async def handle_catalog_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, CatalogError)
    return _error_response(request, exc)


async def handle_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers or {})
    if exc.status_code == 404:
        details = f"no route for {request.method} {clean_text(request.url.path)}"
    elif exc.status_code == 405:
        headers["Allow"] = ", ".join(allowed_methods(request.scope))
        details = f"{request.method} is not allowed here; allowed: {headers['Allow']}"
    else:
        details = exc.detail if isinstance(exc.detail, str) else None
    return _error_response(request, CatalogError(details, status=exc.status_code, headers=headers))


async def handle_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems = list(exc.errors())
    malformed = next((p for p in problems if p.get("type") == "json_invalid"), None)
    if malformed is not None:
        reason = (malformed.get("ctx") or {}).get("error", "invalid JSON")
        return _error_response(request, BadRequest(f"malformed JSON body: {reason}"))
    errors = [
        {"loc": list(p.get("loc", ())), "msg": str(p.get("msg", "")), "type": p.get("type")}
        for p in problems
    ]
    summary = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors[:3])
    error = Unprocessable(f"request validation failed: {clean_text(summary)}")
    error.extra = {"errors": errors}
    return _error_response(request, error)


def install_exception_handlers(app: FastAPI) -> None:
    app.add_exception_handler(CatalogError, handle_catalog_error)
    app.add_exception_handler(StarletteHTTPException, handle_http_exception)
    app.add_exception_handler(RequestValidationError, handle_validation_error)


class ErrorMiddleware:
    """Last line: nothing leaves the app as a traceback, text/plain or HTML."""

    def __init__(self, app: ASGIApp, *, retry_after: int) -> None:
        self.app = app
        self.retry_after = retry_after

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        watch = StartWatch(send)
        try:
            await self.app(scope, receive, watch)
        except Exception as exc:
            error = self._classify(scope, exc)
            if watch.started:
                log.error("error_after_response_started", error=type(exc).__name__)
                return
            await send_error(scope, send, error)

    def _classify(self, scope: Scope, exc: Exception) -> CatalogError:
        if isinstance(exc, CatalogError):
            return exc
        mapped = dependency_failure(exc, self.retry_after)
        fields: dict[str, Any] = {"method": scope.get("method"), "path": scope.get("path")}
        record_exception(exc)
        if mapped is not None:
            log.warning("dependency_failure", status=mapped.status, error=repr(exc)[:500], **fields)
            return mapped
        log.error("unhandled_exception", exc_info=exc, **fields)
        report_exception(exc, scope)
        return CatalogError("internal error; quote the request_id when reporting it", status=500)
