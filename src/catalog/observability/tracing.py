"""OpenTelemetry tracing: a server span per request, client spans for SQL, Redis and httpx.

On only when `OTEL_EXPORTER_OTLP_ENDPOINT` is set. Then `setup_tracing` installs the
process's tracer provider (service name from `OTEL_SERVICE_NAME`) with a BatchSpanProcessor
exporting OTLP over HTTP/protobuf to `<endpoint>/v1/traces`; `TracingMiddleware` opens a
server span per request (named `METHOD /route/template`, continuing a W3C `traceparent`
sent by the caller); `instrument_engine`, `instrument_redis` and `instrument_httpx` add
client spans, and instrumented httpx clients send `traceparent` onwards. The log processor
in `core/logging.py` writes the active span's ids into every log line. The caller's
`traceparent` reaches log lines and the `traceresponse` with or without export
(trace_context.py); the server span puts its own ids into that response header.

Off, tracing costs nothing: no tracer provider is set up (the SDK's tracing modules, the
exporter and the instrumentation packages are not even imported), no middleware is added
and the `instrument_*` functions leave their argument untouched.

OpenTelemetry allows one global tracer provider per process, so the provider is created
once and kept; what each `setup_tracing` owns is the export pipeline behind it, which
`Tracing.shutdown()` flushes and detaches (the lifespan calls it on the way out). While a
pipeline is active, `setup_tracing` returns it again, which is how a test can install an
in-memory exporter before building the app.

FastAPI (>= 0.16x) also traces natively once a global provider exists; the app turns that
off (`FastAPI(telemetry={"tracing": False})`) because `TracingMiddleware` already owns the
server span, sits where the request id is known, and names unrouted answers by template.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.propagators.textmap import Getter
from opentelemetry.trace import SpanKind, StatusCode
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from catalog import __version__
from catalog.core.logging import get_logger
from catalog.core.routes import UNMATCHED, route_template
from catalog.observability.trace_context import TraceContext

if TYPE_CHECKING:
    import httpx
    import redis.asyncio as aioredis
    from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from sqlalchemy.ext.asyncio import AsyncEngine

    from catalog.observability.tracing_export import ExportSwitch
    from catalog.settings import Settings

log = get_logger(__name__)

TRACER_NAME = "catalog"
# Semantic-convention methods; anything else is reported as _OTHER (bounded span names).
KNOWN_METHODS = frozenset(
    {"CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "QUERY", "TRACE"}
)

_lock = threading.Lock()
_provider: TracerProvider | None = None
_switch: ExportSwitch | None = None
_active: Tracing | None = None


def enabled(settings: Settings) -> bool:
    return bool(settings.otel_exporter_otlp_endpoint)


def traces_url(endpoint: str) -> str:
    """The OTLP/HTTP traces URL for a base endpoint, as the OTel spec derives it."""
    base = endpoint.rstrip("/")
    return base if base.endswith("/v1/traces") else base + "/v1/traces"


class Tracing:
    """The export pipeline one `setup_tracing` started; `shutdown()` flushes and detaches it."""

    def __init__(
        self, provider: TracerProvider, processor: SpanProcessor, exporter: SpanExporter
    ) -> None:
        self.provider = provider
        self.processor = processor
        self.exporter = exporter
        self._closed = False

    def force_flush(self, timeout_ms: int = 5000) -> bool:
        return self.processor.force_flush(timeout_ms)

    def shutdown(self) -> None:
        global _active
        with _lock:
            if self._closed:
                return
            self._closed = True
            if _active is self:
                _active = None
            if _switch is not None and _switch.target is self.processor:
                _switch.target = None
        self.processor.shutdown()  # exports what is still queued


def setup_tracing(settings: Settings, *, exporter: SpanExporter | None = None) -> Tracing | None:
    """Install tracing for this process when configured; None (and nothing done) otherwise.

    `exporter` replaces the OTLP exporter (tests pass an in-memory one).
    """
    global _active
    if not enabled(settings):
        return None
    with _lock:
        if _active is not None:
            return _active
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        provider, switch = _process_provider(settings)
        if exporter is None:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            assert settings.otel_exporter_otlp_endpoint is not None
            exporter = OTLPSpanExporter(endpoint=traces_url(settings.otel_exporter_otlp_endpoint))
        processor = BatchSpanProcessor(exporter)
        switch.target = processor
        _active = Tracing(provider, processor, exporter)
    log.info(
        "tracing_enabled",
        service=settings.otel_service_name,
        endpoint=traces_url(settings.otel_exporter_otlp_endpoint or ""),
    )
    return _active


def _process_provider(settings: Settings) -> tuple[TracerProvider, ExportSwitch]:
    """The process's one SDK tracer provider, set as the global one on first use."""
    global _provider, _switch
    if _provider is None or _switch is None:
        from catalog.observability.tracing_export import new_provider

        _provider, _switch = new_provider(settings)
        trace.set_tracer_provider(_provider)
        if trace.get_tracer_provider() is not _provider:
            # Someone (an auto-instrumentation wrapper) set one first; ours still serves the
            # service's own spans, passed explicitly, but other libraries' go elsewhere.
            log.warning("tracer_provider_already_set", detail="the service uses its own")
    return _provider, _switch


def _active_provider() -> TracerProvider | None:
    return _active.provider if _active is not None else None


# --- the server span --------------------------------------------------------------------------


class _ScopeHeaders(Getter[Scope]):
    """Reads propagation headers (traceparent, tracestate, baggage) from an ASGI scope."""

    def get(self, carrier: Scope, key: str) -> list[str] | None:
        name = key.lower().encode("latin-1")
        values = [v.decode("latin-1") for k, v in carrier.get("headers", ()) if k == name]
        return values or None

    def keys(self, carrier: Scope) -> list[str]:
        return [k.decode("latin-1") for k, _ in carrier.get("headers", ())]


_SCOPE_HEADERS = _ScopeHeaders()


def tracing_middleware(settings: Settings) -> list[Middleware]:
    """`[Middleware(TracingMiddleware)]` when tracing is configured, else nothing at all."""
    return [Middleware(TracingMiddleware)] if enabled(settings) else []


class TracingMiddleware:
    """One SERVER span per HTTP request, current while the request runs (pure ASGI).

    Placed right inside the request-id middleware: everything that logs (access line, error
    line) and every client span (SQL, Redis, httpx) happens inside it. The span is named
    after the route template once the answer is known, so unrouted answers (401, 413, 429)
    get their template too; the query string is never recorded (it may carry credentials).
    """

    def __init__(self, app: ASGIApp, tracer_provider: trace.TracerProvider | None = None) -> None:
        self.app = app
        self.tracer = trace.get_tracer(TRACER_NAME, __version__, tracer_provider or _provider)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        parent = propagate.extract(scope, getter=_SCOPE_HEADERS)
        original = scope["method"]
        method = original if original in KNOWN_METHODS else "_OTHER"
        attributes: dict[str, Any] = {
            "http.request.method": method,
            "url.path": scope["path"],
            "url.scheme": scope.get("scheme", "http"),
        }
        if method != original:
            attributes["http.request.method_original"] = original[:32]
        if scope.get("http_version"):
            attributes["network.protocol.version"] = scope["http_version"]
        state = scope.get("state") or {}
        request_id = state.get("request_id")
        if isinstance(request_id, str):
            attributes["catalog.request_id"] = request_id
        span = self.tracer.start_span(
            method if method != "_OTHER" else "HTTP",
            context=parent,
            kind=SpanKind.SERVER,
            attributes=attributes,
        )
        incoming = state.get("trace_context")
        if isinstance(incoming, TraceContext):
            # The `traceresponse` names the exported span (and its trace, should a configured
            # propagator not have continued the caller's).
            ids = span.get_span_context()
            incoming.trace_id = format(ids.trace_id, "032x")
            incoming.span_id = format(ids.span_id, "016x")
            incoming.flags = format(ids.trace_flags, "02x")
        token = otel_context.attach(trace.set_span_in_context(span, parent))
        status: int | None = None

        async def traced_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, traced_send)
        except BaseException as exc:
            span.record_exception(exc)
            span.set_attribute("error.type", _error_type(exc))
            span.set_status(StatusCode.ERROR, type(exc).__name__)
            raise
        finally:
            route = route_template(scope)
            if route != UNMATCHED:
                span.set_attribute("http.route", route)
                span.update_name(f"{method if method != '_OTHER' else 'HTTP'} {route}")
            if status is not None:
                span.set_attribute("http.response.status_code", status)
                # A 5xx is an error; record_exception may already have said which one.
                if status >= 500 and "error.type" not in (getattr(span, "attributes", None) or {}):
                    span.set_attribute("error.type", str(status))
                    span.set_status(StatusCode.ERROR)
            otel_context.detach(token)
            span.end()


def _error_type(exc: BaseException) -> str:
    cls = type(exc)
    return (
        cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    )


def record_exception(exc: BaseException) -> None:
    """Attach an exception to the current span (the error middleware swallows it, so the
    server span would otherwise only see a 500). A no-op when no span is recording."""
    span = trace.get_current_span()
    if span.is_recording():
        span.record_exception(exc)
        span.set_attribute("error.type", _error_type(exc))
        span.set_status(StatusCode.ERROR, type(exc).__name__)


# --- client spans -----------------------------------------------------------------------------


def instrument_engine(engine: AsyncEngine) -> None:
    """A CLIENT span per SQL statement (statement text, never the bound parameters).

    Listens on this engine's `sync_engine` only: the library's SQLAlchemyInstrumentor would
    patch `create_engine` process-wide and can instrument a single engine per process.
    """
    provider = _active_provider()
    if provider is None:
        return
    from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
    from opentelemetry.instrumentation.sqlalchemy.version import (
        __version__ as instrumentation_version,
    )
    from opentelemetry.metrics import get_meter

    tracer = trace.get_tracer(
        "opentelemetry.instrumentation.sqlalchemy", instrumentation_version, provider
    )
    # EngineTracer also counts pool connections on a meter; no meter provider is configured
    # here, so that counter is the API's no-op one.
    connections = get_meter("opentelemetry.instrumentation.sqlalchemy").create_up_down_counter(
        "db.client.connections.usage"
    )
    EngineTracer(tracer, engine.sync_engine, connections)  # type: ignore[no-untyped-call]


def instrument_redis(client: aioredis.Redis) -> None:
    """A CLIENT span per Redis command or pipeline (arguments replaced by `?`)."""
    provider = _active_provider()
    if provider is None:
        return
    from opentelemetry.instrumentation.redis import RedisInstrumentor

    RedisInstrumentor.instrument_client(client, tracer_provider=provider)


def instrument_httpx(client: httpx.AsyncClient | httpx.Client, *, keep_path: bool = False) -> None:
    """A CLIENT span per outbound request, and `traceparent` sent with it.

    The recorded URL is cut to scheme://host:port: webhook URLs (Slack, generic webhooks)
    carry their secret in the path or query. Pass `keep_path=True` for clients whose paths
    are public (a JWKS URL); the query string is dropped either way.
    """
    provider = _active_provider()
    if provider is None:
        return
    import httpx
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor, RequestInfo

    def redact(span: trace.Span, request: RequestInfo) -> None:
        url = httpx.URL(str(request.url))
        shown = f"{url.scheme}://{url.host}" + (f":{url.port}" if url.port else "")
        if keep_path:
            shown += url.path
        for key in _URL_ATTRIBUTES:
            span.set_attribute(key, shown)

    async def redact_async(span: trace.Span, request: RequestInfo) -> None:
        redact(span, request)

    hook: Any = redact_async if isinstance(client, httpx.AsyncClient) else redact
    HTTPXClientInstrumentor.instrument_client(client, tracer_provider=provider, request_hook=hook)


# Old and stable semantic-convention names; both are overwritten whichever mode is active.
_URL_ATTRIBUTES = ("http.url", "url.full")


@contextmanager
def untraced() -> Iterator[None]:
    """No spans for what runs inside (instrumented calls skip themselves): for background
    loops that poll, whose root span every fraction of a second would flood a tracing backend
    and bury the requests' traces. (The context key the instrumentations check, set here
    without importing them: with tracing off they are never loaded.)"""
    token = otel_context.attach(
        otel_context.set_value(otel_context._SUPPRESS_INSTRUMENTATION_KEY, True)
    )
    try:
        yield
    finally:
        otel_context.detach(token)
