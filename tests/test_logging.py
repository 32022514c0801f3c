"""JSON log lines with the promised fields; secrets never written."""

from __future__ import annotations

import json

import pytest
from httpx import AsyncClient

from catalog.platform.logging import get_logger, scrub_text

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
