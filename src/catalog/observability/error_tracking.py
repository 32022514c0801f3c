"""Error reports to Sentry, when `SENTRY_DSN` is set and the `sentry` extra is installed.

The error middleware turns a bug into a 500 envelope and swallows the exception, so nothing
would ever reach Sentry on its own; it calls `report_exception` instead, which sends the
exception tagged with the request id (and the trace id when tracing is on) and a request
description without credentials. Sentry's ASGI/FastAPI integrations are not used: they wrap
the app in middleware of their own, and this service's request layers are its own.

What leaves the process: `send_default_pii=False`, and `before_send` drops the
`Authorization`/`Cookie` headers (and any header named like a credential), drops query
strings, and scrubs every string with the log scrubber (bearer tokens, URL passwords) and
every field named like a secret. Stack frames are sent without their local variables: in
this middleware stack nearly every frame holds the ASGI scope with the raw headers.

Off (no DSN), `sentry_sdk` is not imported and `report_exception` returns at once. A DSN
without the package logs a warning at start-up and the service runs without error reports.
"""

from __future__ import annotations

import logging
import threading
import warnings
from typing import TYPE_CHECKING, Any

import structlog
from opentelemetry import trace
from starlette.types import Scope

from catalog import __version__
from catalog.core.errors import request_id_of
from catalog.core.logging import get_logger, is_secret_key, scrub
from catalog.core.routes import UNMATCHED, route_template

if TYPE_CHECKING:
    from sentry_sdk.types import Event, Hint

    from catalog.settings import Settings

log = get_logger(__name__)

# Request headers never sent, whatever their value; also dropped: any header named like a
# credential (is_secret_key) and the client-address headers (personal data).
DROPPED_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key"}
    | {"forwarded", "x-forwarded-for", "x-real-ip"}
)
FLUSH_TIMEOUT_S = 2.0
# An event is scrubbed all the way down: its frames' variables sit about ten levels deep, and
# the SDK has already cut every variable's own nesting short (a bound, not a limit in practice).
EVENT_SCRUB_DEPTH = 64

_lock = threading.Lock()
_active: ErrorTracking | None = None


class ErrorTracking:
    """The Sentry client one `setup_error_tracking` installed; `shutdown()` flushes it."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def shutdown(self, timeout_s: float = FLUSH_TIMEOUT_S) -> None:
        global _active
        import sentry_sdk

        with _lock:
            if _active is self:
                _active = None
        self.client.close(timeout=timeout_s)  # sends what is queued
        if sentry_sdk.get_client() is self.client:
            sentry_sdk.get_global_scope().set_client(None)


def setup_error_tracking(settings: Settings) -> ErrorTracking | None:
    """Start reporting to Sentry when `SENTRY_DSN` is set; None (and nothing done) otherwise."""
    global _active
    if settings.sentry_dsn is None or not settings.sentry_dsn.get_secret_value():
        return None
    try:
        import sentry_sdk
        import sentry_sdk.utils
    except ImportError:
        log.warning(
            "sentry_sdk_missing",
            detail="SENTRY_DSN is set but sentry-sdk is not installed "
            "(pip install 'catalog[sentry]'); errors are not reported to Sentry",
        )
        return None
    try:
        _init(sentry_sdk, settings)
    except sentry_sdk.utils.BadDsn as exc:
        log.error("sentry_dsn_invalid", error=str(exc), detail="errors are not reported")
        return None
    with _lock:
        _active = ErrorTracking(sentry_sdk.get_client())
    log.info("error_tracking_enabled", environment=settings.environment)
    return _active


def _init(sentry_sdk: Any, settings: Settings) -> None:
    from sentry_sdk.integrations.atexit import AtexitIntegration
    from sentry_sdk.integrations.dedupe import DedupeIntegration
    from sentry_sdk.integrations.excepthook import ExcepthookIntegration
    from sentry_sdk.integrations.logging import LoggingIntegration

    assert settings.sentry_dsn is not None
    with warnings.catch_warnings():
        # sentry-sdk >= 2.6x prefers `data_collection`; send_default_pii=False means the same
        # on every 2.x release, and is what this module promises.
        warnings.filterwarnings("ignore", "The send_default_pii option", DeprecationWarning)
        sentry_sdk.init(
            dsn=settings.sentry_dsn.get_secret_value(),
            environment=settings.environment,
            release=__version__,
            send_default_pii=False,
            # Frame variables would carry the ASGI scope of every middleware frame: the raw
            # headers (cookies, tokens) and query string, in shapes no key-based scrubber sees.
            include_local_variables=False,
            traces_sample_rate=settings.sentry_traces_sample_rate,
            before_send=before_send,
            before_breadcrumb=_before_breadcrumb,
            # Only these: no auto-enabled FastAPI/Starlette/SQLAlchemy/httpx integrations
            # (they wrap the app or patch clients). Stdlib ERROR log records still become
            # events (asyncio, uvicorn); structlog's lines do not go through stdlib logging.
            default_integrations=False,
            auto_enabling_integrations=False,
            integrations=[
                DedupeIntegration(),
                AtexitIntegration(),
                ExcepthookIntegration(),
                LoggingIntegration(level=logging.INFO, event_level=logging.ERROR),
            ],
            in_app_include=["catalog"],
        )


def report_exception(exc: BaseException, scope: Scope | None = None) -> None:
    """Send an unhandled exception to Sentry with the request's tags (no-op when off)."""
    if _active is None:
        return
    import sentry_sdk

    tags = _tags(scope)
    request = _request_data(scope) if scope is not None else None
    with sentry_sdk.new_scope() as sentry_scope:
        for key, value in tags.items():
            sentry_scope.set_tag(key, value)
        if request is not None:
            sentry_scope.add_event_processor(_attach(request))
        sentry_sdk.capture_exception(exc)


def _tags(scope: Scope | None) -> dict[str, str]:
    tags: dict[str, str] = {}
    request_id = request_id_of(scope) if scope is not None else None
    if request_id is None:
        bound = structlog.contextvars.get_contextvars().get("request_id")
        request_id = bound if isinstance(bound, str) else None
    if request_id is not None:
        tags["request_id"] = request_id
    if scope is not None and scope.get("type") == "http":
        tags["http.method"] = str(scope.get("method", ""))
        route = route_template(scope)
        if route != UNMATCHED:
            tags["http.route"] = route
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        tags["trace_id"] = format(context.trace_id, "032x")
    return tags


def _request_data(scope: Scope) -> dict[str, Any]:
    host = next((v.decode("latin-1") for k, v in scope.get("headers", ()) if k == b"host"), "")
    headers = {
        name.decode("latin-1"): value.decode("latin-1")
        for name, value in scope.get("headers", ())
        if not _dropped_header(name.decode("latin-1"))
    }
    return {
        "method": scope.get("method"),
        "url": f"{scope.get('scheme', 'http')}://{host}{scope.get('path', '')}",
        "headers": headers,
    }


def _attach(request: dict[str, Any]) -> Any:
    def processor(event: Event, _hint: Hint) -> Event:
        event["request"] = request
        return event

    return processor


def _dropped_header(name: str) -> bool:
    lowered = name.lower()
    return lowered in DROPPED_HEADERS or is_secret_key(lowered)


def before_send(event: Event, _hint: Hint) -> Event | None:
    """Last look at every event before it leaves: credentials and query strings removed."""
    request = event.get("request")
    if isinstance(request, dict):
        request.pop("query_string", None)
        request.pop("cookies", None)
        url = request.get("url")
        if isinstance(url, str):
            request["url"] = url.split("?", 1)[0].split("#", 1)[0]
        headers = request.get("headers")
        if isinstance(headers, dict):
            request["headers"] = {k: v for k, v in headers.items() if not _dropped_header(k)}
    scrubbed: Event = scrub(event, EVENT_SCRUB_DEPTH)
    return scrubbed


def _before_breadcrumb(crumb: dict[str, Any], _hint: dict[str, Any]) -> dict[str, Any]:
    scrubbed: dict[str, Any] = scrub(crumb, EVENT_SCRUB_DEPTH)
    return scrubbed
