"""Tracing (OpenTelemetry) and error tracking (Sentry), through the real app.

Spans are exported to an in-memory exporter: `setup_tracing(..., exporter=...)` installs the
pipeline before the app is built, and the app's own `setup_tracing` call returns it. The
process keeps one global tracer provider (OpenTelemetry allows one); each test gets its own
pipeline behind it, which the app's lifespan (or the fixture) shuts down.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import sentry_sdk
from fastapi import APIRouter, FastAPI, Request
from httpx import AsyncClient
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import catalog
from catalog.app import create_app
from catalog.observability.error_tracking import before_send, setup_error_tracking
from catalog.observability.tracing import (
    Tracing,
    TracingMiddleware,
    instrument_httpx,
    setup_tracing,
)
from catalog.settings import Settings
from tests.conftest import base_settings
from tests.support.probe_routes import SECRET_DETAIL, app_with_probe_routes

Opener = Callable[[FastAPI], Awaitable[AsyncClient]]
# Never contacted: every test installs an in-memory exporter first.
ENDPOINT = "http://127.0.0.1:9"
SECRET = "s3cr3t-VALUE-never-sent"


# --- helpers --------------------------------------------------------------------------------


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class CaptureServer:
    """A local HTTP server that answers 200 {} and remembers every request."""

    requests: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        recorded = self.requests

        class Handler(BaseHTTPRequestHandler):
            def _record(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                recorded.append(Received(self.command, self.path, headers, body))
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            do_GET = do_POST = _record

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def capture_server() -> Iterator[CaptureServer]:
    server = CaptureServer()
    yield server
    server.close()


@dataclass
class Spans:
    exporter: InMemorySpanExporter
    tracing: Tracing

    def finished(self) -> list[ReadableSpan]:
        assert self.tracing.force_flush()
        return list(self.exporter.get_finished_spans())

    def server_spans(self) -> list[ReadableSpan]:
        return [s for s in self.finished() if s.kind is SpanKind.SERVER]

    def only_server_span(self) -> ReadableSpan:
        servers = self.server_spans()
        assert len(servers) == 1, [s.name for s in servers]
        return servers[0]


@pytest.fixture
def spans() -> Iterator[Spans]:
    exporter = InMemorySpanExporter()
    tracing = setup_tracing(Settings(otel_exporter_otlp_endpoint=ENDPOINT), exporter=exporter)
    assert tracing is not None
    assert tracing.exporter is exporter, "a pipeline of an earlier test was left active"
    yield Spans(exporter, tracing)
    tracing.shutdown()


def traced_settings(database_url: str, **overrides: Any) -> Settings:
    return base_settings(database_url, otel_exporter_otlp_endpoint=ENDPOINT, **overrides)


outbound = APIRouter()


@outbound.get("/t/outbound")
async def call_out(request: Request) -> dict[str, int]:
    client: httpx.AsyncClient = request.app.state.outbound_client
    response = await client.get(request.app.state.outbound_url)
    return {"status": response.status_code}


def hex_trace(span: ReadableSpan) -> str:
    assert span.context is not None
    return format(span.context.trace_id, "032x")


def hex_span(span: ReadableSpan) -> str:
    assert span.context is not None
    return format(span.context.span_id, "016x")


def log_lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


# --- tracing on -----------------------------------------------------------------------------


async def test_server_span_is_named_by_route_template(
    spans: Spans, sqlite_url: str, open_client: Opener
) -> None:
    client = await open_client(app_with_probe_routes(traced_settings(sqlite_url)))
    response = await client.get("/t/items/item-8142?q=1")
    assert response.status_code == 200

    span = spans.only_server_span()  # one: FastAPI's own server span stays off
    assert span.name == "GET /t/items/{item_id}"
    assert span.attributes is not None
    assert span.attributes["http.request.method"] == "GET"
    assert span.attributes["http.route"] == "/t/items/{item_id}"
    assert span.attributes["url.path"] == "/t/items/item-8142"
    assert span.attributes["http.response.status_code"] == 200
    assert span.attributes["catalog.request_id"] == response.headers["x-request-id"]
    assert "item-8142" not in span.name
    assert not any("q=1" in str(value) for value in span.attributes.values())
    assert span.status.status_code is StatusCode.UNSET
    assert span.resource.attributes["service.name"] == "catalog"


async def test_unrouted_answer_is_named_by_method_only(
    spans: Spans, sqlite_url: str, open_client: Opener
) -> None:
    client = await open_client(app_with_probe_routes(traced_settings(sqlite_url)))
    assert (await client.get("/no/route/here")).status_code == 404
    span = spans.only_server_span()
    assert span.name == "GET"
    assert span.attributes is not None
    assert "http.route" not in span.attributes
    assert span.attributes["http.response.status_code"] == 404


async def test_db_query_spans_are_children_of_the_request_span(
    spans: Spans, database_url: str, open_client: Opener
) -> None:
    client = await open_client(app_with_probe_routes(traced_settings(database_url)))
    assert (await client.get("/t/db")).json() == {"products": 0}

    finished = spans.finished()
    server = spans.only_server_span()
    queries = [s for s in finished if s.kind is SpanKind.CLIENT and _statement(s)]
    assert any("count(" in _statement(s).lower() for s in queries), [s.name for s in finished]
    for query in queries:
        assert query.parent is not None
        assert query.parent.span_id == server.context.span_id
        assert hex_trace(query) == hex_trace(server)


def _statement(span: ReadableSpan) -> str:
    attributes = span.attributes or {}
    return str(attributes.get("db.statement") or attributes.get("db.query.text") or "")


async def test_redis_commands_are_traced_inside_the_request(
    spans: Spans, sqlite_url: str, redis_url: str, open_client: Opener
) -> None:
    client = await open_client(
        app_with_probe_routes(traced_settings(sqlite_url, redis_url=redis_url))
    )
    assert (await client.get("/readyz")).status_code == 200
    server = spans.only_server_span()
    redis_spans = [s for s in spans.finished() if (s.attributes or {}).get("db.system") == "redis"]
    # The pool warm-up pings at startup run outside any request: they are root spans of
    # their own traces. Every Redis command that has a parent belongs to the request.
    in_request = [s for s in redis_spans if s.parent is not None]
    assert in_request, [s.name for s in spans.finished()]
    assert all(hex_trace(s) == hex_trace(server) for s in in_request)
    assert all(s.parent is None for s in redis_spans if s not in in_request)


async def test_incoming_traceparent_is_continued(
    spans: Spans, sqlite_url: str, open_client: Opener
) -> None:
    trace_id, parent_id = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    client = await open_client(app_with_probe_routes(traced_settings(sqlite_url)))
    await client.get("/api/info", headers={"traceparent": f"00-{trace_id}-{parent_id}-01"})
    span = spans.only_server_span()
    assert hex_trace(span) == trace_id
    assert span.parent is not None
    assert span.parent.is_remote
    assert format(span.parent.span_id, "016x") == parent_id


async def test_malformed_traceparent_starts_a_new_trace(
    spans: Spans, sqlite_url: str, open_client: Opener
) -> None:
    client = await open_client(app_with_probe_routes(traced_settings(sqlite_url)))
    response = await client.get("/api/info", headers={"traceparent": "00-not-a-trace-01"})
    assert response.status_code == 200
    span = spans.only_server_span()
    assert span.parent is None


async def test_outbound_httpx_call_carries_the_trace(
    spans: Spans, sqlite_url: str, open_client: Opener, capture_server: CaptureServer
) -> None:
    app = app_with_probe_routes(traced_settings(sqlite_url))
    app.include_router(outbound)
    outbound_client = httpx.AsyncClient(trust_env=False)
    instrument_httpx(outbound_client)
    app.state.outbound_client = outbound_client
    app.state.outbound_url = f"{capture_server.url}/hooks/{SECRET}?token={SECRET}"
    client = await open_client(app)
    try:
        assert (await client.get("/t/outbound")).json() == {"status": 200}
    finally:
        await outbound_client.aclose()

    server = spans.only_server_span()
    [received] = capture_server.requests
    version, trace_id, parent_id, _flags = received.headers["traceparent"].split("-")
    assert (version, trace_id) == ("00", hex_trace(server))
    [call] = [s for s in spans.finished() if s.kind is SpanKind.CLIENT]
    assert parent_id == hex_span(call)
    assert call.parent is not None
    assert call.parent.span_id == server.context.span_id
    # The webhook's secret path and query never reach the exported span.
    assert SECRET not in repr(dict(call.attributes or {}))
    assert capture_server.url in {str(v) for v in (call.attributes or {}).values()}


async def test_log_lines_of_a_request_carry_its_trace_id(
    spans: Spans, sqlite_url: str, open_client: Opener, capsys: pytest.CaptureFixture[str]
) -> None:
    client = await open_client(app_with_probe_routes(traced_settings(sqlite_url)))
    capsys.readouterr()
    response = await client.get("/t/items/x")
    lines = [
        line
        for line in log_lines(capsys.readouterr().out)
        if line.get("request_id") == response.headers["x-request-id"]
    ]
    server = spans.only_server_span()
    assert lines, "expected the access line of the request"
    assert all(line["trace_id"] == hex_trace(server) for line in lines)
    access = next(line for line in lines if line["event"] == "request")
    assert access["span_id"] == hex_span(server)


async def test_callers_trace_on_log_lines_is_the_exported_trace(
    spans: Spans, sqlite_url: str, open_client: Opener, capsys: pytest.CaptureFixture[str]
) -> None:
    trace_id, parent_id = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    client = await open_client(app_with_probe_routes(traced_settings(sqlite_url)))
    capsys.readouterr()
    response = await client.get("/t/boom", headers={"traceparent": f"00-{trace_id}-{parent_id}-01"})
    lines = [
        line
        for line in log_lines(capsys.readouterr().out)
        if line.get("request_id") == response.headers["x-request-id"]
    ]
    server = spans.only_server_span()
    assert hex_trace(server) == trace_id
    assert {line["event"] for line in lines} >= {"unhandled_exception", "request"}
    for line in lines:
        assert (line["trace_id"], line["span_id"]) == (trace_id, hex_span(server))
        assert line["parent_span_id"] == parent_id
    assert response.headers["traceresponse"] == f"00-{trace_id}-{hex_span(server)}-01"


async def test_unsampled_caller_gets_an_unsampled_traceresponse(
    spans: Spans, sqlite_url: str, open_client: Opener
) -> None:
    trace_id, parent_id = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    client = await open_client(app_with_probe_routes(traced_settings(sqlite_url)))
    response = await client.get(
        "/api/info", headers={"traceparent": f"00-{trace_id}-{parent_id}-00"}
    )
    assert spans.server_spans() == []  # the caller did not sample: nothing exported
    version, echoed_trace, span_id, flags = response.headers["traceresponse"].split("-")
    assert (version, echoed_trace, flags) == ("00", trace_id, "00")
    assert span_id not in {parent_id, "0" * 16}


async def test_unhandled_exception_is_recorded_and_logged_with_the_trace_id(
    spans: Spans, sqlite_url: str, open_client: Opener, capsys: pytest.CaptureFixture[str]
) -> None:
    client = await open_client(app_with_probe_routes(traced_settings(sqlite_url)))
    capsys.readouterr()
    response = await client.get("/t/boom")
    assert response.status_code == 500
    server = spans.only_server_span()
    [line] = [
        line
        for line in log_lines(capsys.readouterr().out)
        if line["event"] == "unhandled_exception"
    ]
    assert line["trace_id"] == hex_trace(server)
    assert line["request_id"] == response.headers["x-request-id"]
    assert server.status.status_code is StatusCode.ERROR
    assert server.attributes is not None
    assert server.attributes["http.response.status_code"] == 500
    assert server.attributes["error.type"] == "RuntimeError"
    [event] = [e for e in server.events if e.name == "exception"]
    assert event.attributes is not None
    assert event.attributes["exception.type"] == "RuntimeError"


async def test_log_lines_outside_a_span_have_no_trace_id(
    sqlite_url: str, open_client: Opener, capsys: pytest.CaptureFixture[str]
) -> None:
    client = await open_client(app_with_probe_routes(base_settings(sqlite_url)))
    capsys.readouterr()
    await client.get("/api/info")
    lines = log_lines(capsys.readouterr().out)
    assert lines
    assert not any("trace_id" in line for line in lines)


async def test_setup_is_idempotent_and_shutdown_detaches_the_pipeline(spans: Spans) -> None:
    settings = Settings(otel_exporter_otlp_endpoint=ENDPOINT)
    assert setup_tracing(settings) is spans.tracing
    spans.tracing.shutdown()
    spans.tracing.shutdown()  # twice is fine
    again = setup_tracing(settings, exporter=InMemorySpanExporter())
    assert again is not None
    assert again is not spans.tracing
    again.shutdown()


# --- tracing off ----------------------------------------------------------------------------


def test_tracing_off_adds_no_middleware_and_instruments_nothing(
    sqlite_url: str, spans: Spans
) -> None:
    spans.tracing.shutdown()  # no pipeline active, as in a process with tracing off
    settings = base_settings(sqlite_url)
    assert setup_tracing(settings) is None
    app = create_app(settings)
    untraced: list[object] = [m.cls for m in app.user_middleware]
    assert TracingMiddleware not in untraced
    client = httpx.AsyncClient()
    instrument_httpx(client)
    assert not getattr(client, "_is_instrumented_by_opentelemetry", False)

    setup_tracing(traced_settings(sqlite_url), exporter=spans.exporter)
    traced = create_app(traced_settings(sqlite_url))  # built, never started: shut down below
    setup_tracing(traced_settings(sqlite_url)).shutdown()  # type: ignore[union-attr]
    classes: list[object] = [m.cls for m in traced.user_middleware]
    assert classes.index(TracingMiddleware) == 1  # right after RequestIdMiddleware


def test_tracing_and_sentry_off_cost_nothing_in_a_fresh_process(
    sqlite_url: str, tmp_path: Path
) -> None:
    """No provider, no tracing SDK, exporter or instrumentation imported, no sentry_sdk:
    checked in a process of its own, since this one already holds a provider.

    (redis-py imports `opentelemetry.sdk.metrics` by itself when the SDK is installed, so
    only the tracing half of the SDK is checked.)"""
    script = textwrap.dedent(
        f"""
        import asyncio, sys
        from asgi_lifespan import LifespanManager
        from httpx import ASGITransport, AsyncClient
        from opentelemetry import trace
        from catalog.app import create_app
        from catalog.settings import Settings

        app = create_app(Settings(database_url={sqlite_url!r}, rate_limit_enabled=False))

        async def main():
            async with LifespanManager(app) as manager:
                transport = ASGITransport(app=manager.app)
                async with AsyncClient(transport=transport, base_url="http://t") as client:
                    assert (await client.get("/api/info")).status_code == 200

        asyncio.run(main())
        provider = type(trace.get_tracer_provider()).__name__
        loaded = sorted(
            name for name in sys.modules
            if name.startswith(("opentelemetry.sdk.trace", "opentelemetry.instrumentation",
                                "opentelemetry.exporter", "sentry_sdk"))
        )
        print("RESULT", provider, loaded)
        """
    )
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OTEL_", "SENTRY_")) and k != "FASTAPI_OTEL_AUTO_CONFIGURE"
    }
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = next(line for line in done.stdout.splitlines() if line.startswith("RESULT"))
    assert result == "RESULT ProxyTracerProvider []"


# --- Sentry ---------------------------------------------------------------------------------


def sentry_events(server: CaptureServer) -> list[dict[str, Any]]:
    """The event items of every envelope the fake Sentry received."""
    events = []
    for request in server.requests:
        if not request.path.startswith("/api/1/envelope"):
            continue
        body = request.body
        if request.headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        lines = body.split(b"\n")
        for index, line in enumerate(lines[1:-1], start=1):
            if not line.strip():
                continue
            header = json.loads(line)
            if isinstance(header, dict) and header.get("type") == "event":
                events.append(json.loads(lines[index + 1]))
    return events


def raw_sentry_text(server: CaptureServer) -> str:
    texts = []
    for request in server.requests:
        body = request.body
        if request.headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        texts.append(body.decode("utf-8", "replace") + json.dumps(request.headers))
    return "\n".join(texts)


@pytest.fixture
def no_sentry_left() -> Iterator[None]:
    yield
    client = sentry_sdk.get_client()
    if client.is_active():
        client.close(timeout=1)
        sentry_sdk.get_global_scope().set_client(None)
        pytest.fail("a test left a Sentry client installed")


async def test_unhandled_exception_is_reported_to_sentry(
    no_sentry_left: None,  # first: checked after the app's lifespan has ended
    spans: Spans,
    sqlite_url: str,
    open_client: Opener,
    capture_server: CaptureServer,
) -> None:
    dsn = f"http://public@127.0.0.1:{capture_server.server.server_address[1]}/1"
    settings = traced_settings(sqlite_url, sentry_dsn=dsn)
    client = await open_client(app_with_probe_routes(settings))
    response = await client.get(
        f"/t/boom?api_key={SECRET}",
        headers={"authorization": f"Bearer {SECRET}", "cookie": f"session={SECRET}"},
    )
    assert response.status_code == 500
    sentry_sdk.flush(timeout=5)

    [event] = sentry_events(capture_server)
    [exception] = event["exception"]["values"]
    assert (exception["type"], exception["value"]) == ("RuntimeError", SECRET_DETAIL)
    assert event["tags"]["request_id"] == response.headers["x-request-id"]
    assert event["tags"]["trace_id"] == hex_trace(spans.only_server_span())
    assert event["tags"]["http.route"] == "/t/boom"
    assert event["environment"] == "development"
    assert event["release"] == catalog.__version__
    request = event["request"]
    assert request["url"] == "http://catalog.test/t/boom"
    assert "query_string" not in request
    assert {name.lower() for name in request["headers"]}.isdisjoint({"authorization", "cookie"})
    assert SECRET not in raw_sentry_text(capture_server)


async def test_handled_errors_are_not_reported_to_sentry(
    no_sentry_left: None, sqlite_url: str, open_client: Opener, capture_server: CaptureServer
) -> None:
    dsn = f"http://public@127.0.0.1:{capture_server.server.server_address[1]}/1"
    client = await open_client(app_with_probe_routes(base_settings(sqlite_url, sentry_dsn=dsn)))
    assert (await client.get("/t/conflict")).status_code == 409
    assert (await client.get("/no/such/route")).status_code == 404
    sentry_sdk.flush(timeout=5)
    assert sentry_events(capture_server) == []


def test_before_send_removes_credentials_and_query_strings() -> None:
    event: Any = {
        "request": {
            "url": f"https://catalog.example/api/x?token={SECRET}",
            "query_string": f"token={SECRET}",
            "cookies": {"session": SECRET},
            "headers": {
                "Authorization": f"Bearer {SECRET}",
                "Cookie": f"session={SECRET}",
                "X-Forwarded-For": "203.0.113.9",
                "User-Agent": "probe/1.0",
            },
        },
        "breadcrumbs": {"values": [{"message": f"calling with Authorization: Bearer {SECRET}"}]},
        "exception": {
            "values": [
                {
                    "value": f"cannot reach postgresql://app:{SECRET}@db/catalog",
                    "stacktrace": {"frames": [{"vars": {"password": SECRET, "n": 3}}]},
                }
            ]
        },
    }
    cleaned: Any = before_send(event, {})
    assert SECRET not in json.dumps(cleaned)
    assert cleaned["request"]["url"] == "https://catalog.example/api/x"
    assert cleaned["request"]["headers"] == {"User-Agent": "probe/1.0"}
    assert cleaned["exception"]["values"][0]["stacktrace"]["frames"][0]["vars"]["n"] == 3


def test_dsn_without_the_package_warns_and_carries_on(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "sentry_sdk", None)  # makes `import sentry_sdk` fail
    settings = base_settings(sqlite_url, sentry_dsn="http://public@127.0.0.1:9/1")
    capsys.readouterr()
    create_app(settings)  # the service still starts, and says why nothing is reported
    [line] = [
        line for line in log_lines(capsys.readouterr().out) if line["event"] == "sentry_sdk_missing"
    ]
    assert line["level"] == "warning"
    assert "sentry-sdk is not installed" in line["detail"]
    assert "127.0.0.1:9" not in json.dumps(line)  # the DSN itself is not echoed
    assert setup_error_tracking(settings) is None
