"""JSON log lines with the promised fields; secrets never written."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable

import pytest
from fastapi import FastAPI
from httpx import AsyncClient

from catalog.core.logging import get_logger, scrub_text
from tests.conftest import base_settings
from tests.support.probe_routes import app_with_probe_routes

Opener = Callable[[FastAPI], Awaitable[AsyncClient]]

ACCESS_FIELDS = {
    "timestamp",
    "level",
    "event",
    "request_id",
    "method",
    "route",
    "status",
    "duration_ms",
}


def log_lines(out: str) -> list[dict]:  # type: ignore[type-arg]
    lines = []
    for line in out.splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


async def test_access_line_per_request(
    sqlite_client: AsyncClient, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    response = await sqlite_client.get("/api/info", headers={"x-request-id": "log-me-1"})
    lines = [line for line in log_lines(capsys.readouterr().out) if line["event"] == "request"]
    assert len(lines) == 1
    line = lines[0]
    assert set(line) >= ACCESS_FIELDS
    assert line["request_id"] == "log-me-1" == response.headers["x-request-id"]
    assert (line["method"], line["route"], line["status"]) == ("GET", "/api/info", 200)
    assert line["level"] == "info"
    assert line["timestamp"].endswith("Z")


async def test_authorization_and_secrets_never_logged(
    sqlite_client: AsyncClient, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = "s3cr3t-token-value-XYZ"
    await sqlite_client.get(
        f"/api/info?api_key={secret}",
        headers={"authorization": f"Bearer {secret}", "cookie": f"session={secret}"},
    )
    await sqlite_client.get(
        f"/no/such?token={secret}", headers={"authorization": f"Bearer {secret}"}
    )
    get_logger("test").info(
        "manual",
        password=secret,
        nested={"api_key": secret},
        url=f"postgresql://user:{secret}@db/x",
        note=f"header was Bearer {secret}",
    )
    out = capsys.readouterr().out
    assert log_lines(out), "expected JSON log lines"
    assert secret not in out


def test_scrub_text_removes_bearer_tokens_and_url_passwords() -> None:
    assert scrub_text("Authorization: Bearer abc.def.ghi") == "Authorization: Bearer [redacted]"
    assert scrub_text("redis://:pw@host:6379/0") == "redis://:[redacted]@host:6379/0"
    assert scrub_text("postgresql://u:p@h/db") == "postgresql://u:[redacted]@h/db"
    assert scrub_text("nothing to hide") == "nothing to hide"


# --- the caller's trace context (W3C traceparent), tracing export off -------------------------

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
TRACERESPONSE = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")


def request_lines(out: str, request_id: str) -> list[dict]:  # type: ignore[type-arg]
    return [line for line in log_lines(out) if line.get("request_id") == request_id]


async def test_callers_trace_id_is_on_every_line_of_its_request(
    sqlite_url: str, open_client: Opener, capsys: pytest.CaptureFixture[str]
) -> None:
    client = await open_client(app_with_probe_routes(base_settings(sqlite_url)))
    capsys.readouterr()
    # /t/boom logs while it is handled (the unhandled exception), then the access line.
    response = await client.get("/t/boom", headers={"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"})
    assert response.status_code == 500
    lines = request_lines(capsys.readouterr().out, response.headers["x-request-id"])
    assert {line["event"] for line in lines} >= {"unhandled_exception", "request"}

    match = TRACERESPONSE.fullmatch(response.headers["traceresponse"])
    assert match is not None, response.headers["traceresponse"]
    trace_id, span_id, flags = match.groups()
    assert trace_id == TRACE_ID
    assert span_id not in {PARENT_ID, "0" * 16}  # this service's span, not the caller's
    assert flags == "00"  # nothing was recorded: export is off
    for line in lines:
        assert (line["trace_id"], line["parent_span_id"], line["span_id"]) == (
            TRACE_ID,
            PARENT_ID,
            span_id,
        )


async def test_trace_context_ends_with_its_request(
    sqlite_url: str, open_client: Opener, capsys: pytest.CaptureFixture[str]
) -> None:
    client = await open_client(app_with_probe_routes(base_settings(sqlite_url)))
    traceparent = {"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"}
    first = await client.get("/api/info", headers=traceparent)
    second = await client.get("/api/info", headers=traceparent)
    assert first.headers["traceresponse"] != second.headers["traceresponse"]  # a span each
    capsys.readouterr()
    plain = await client.get("/api/info")
    assert "traceresponse" not in plain.headers
    lines = request_lines(capsys.readouterr().out, plain.headers["x-request-id"])
    assert lines
    assert not any({"trace_id", "span_id", "parent_span_id"} & set(line) for line in lines)


async def test_later_traceparent_version_is_read_by_its_version_00_fields(
    sqlite_url: str, open_client: Opener, capsys: pytest.CaptureFixture[str]
) -> None:
    client = await open_client(app_with_probe_routes(base_settings(sqlite_url)))
    capsys.readouterr()
    response = await client.get(
        "/api/info", headers={"traceparent": f"cc-{TRACE_ID}-{PARENT_ID}-01-future-fields"}
    )
    assert response.headers["traceresponse"].startswith(f"00-{TRACE_ID}-")
    lines = request_lines(capsys.readouterr().out, response.headers["x-request-id"])
    assert lines
    assert all(line["trace_id"] == TRACE_ID for line in lines)


INVALID_TRACEPARENTS = {
    "version ff": f"ff-{TRACE_ID}-{PARENT_ID}-01".encode(),
    "version one digit": f"0-{TRACE_ID}-{PARENT_ID}-01".encode(),
    "version not hex": f"0x-{TRACE_ID}-{PARENT_ID}-01".encode(),
    "zero trace id": f"00-{'0' * 32}-{PARENT_ID}-01".encode(),
    "zero parent id": f"00-{TRACE_ID}-{'0' * 16}-01".encode(),
    "short trace id": f"00-{TRACE_ID[:-1]}-{PARENT_ID}-01".encode(),
    "long parent id": f"00-{TRACE_ID}-{PARENT_ID}0-01".encode(),
    "one-digit flags": f"00-{TRACE_ID}-{PARENT_ID}-1".encode(),
    "non-hex trace id": f"00-{TRACE_ID[:-1]}g-{PARENT_ID}-01".encode(),
    "upper-case hex": f"00-{TRACE_ID.upper()}-{PARENT_ID}-01".encode(),
    "version 00 with more fields": f"00-{TRACE_ID}-{PARENT_ID}-01-extra".encode(),
    "over 512 characters": f"01-{TRACE_ID}-{PARENT_ID}-01-{'a' * 500}".encode(),
    "not ASCII": f"00-{TRACE_ID}-{PARENT_ID}-01".encode() + b"\xff",
    "empty": b"",
}


@pytest.mark.parametrize("value", INVALID_TRACEPARENTS.values(), ids=INVALID_TRACEPARENTS.keys())
async def test_invalid_traceparent_is_ignored(
    value: bytes, sqlite_url: str, open_client: Opener, capsys: pytest.CaptureFixture[str]
) -> None:
    client = await open_client(app_with_probe_routes(base_settings(sqlite_url)))
    capsys.readouterr()
    response = await client.get("/api/info", headers=[(b"traceparent", value)])
    assert response.status_code == 200
    assert "traceresponse" not in response.headers
    lines = request_lines(capsys.readouterr().out, response.headers["x-request-id"])
    assert lines
    assert not any({"trace_id", "span_id", "parent_span_id"} & set(line) for line in lines)
