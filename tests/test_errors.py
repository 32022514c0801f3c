"""One error envelope for everything the service can answer with an error."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient, Response

from tests.conftest import base_settings
from tests.support.probe_routes import app_with_probe_routes

ENVELOPE_KEYS = {"code", "message", "details", "timestamp", "request_id"}


@pytest.fixture
async def probe_client(
    sqlite_url: str, open_client: Callable[[FastAPI], Awaitable[AsyncClient]]
) -> AsyncClient:
    return await open_client(app_with_probe_routes(base_settings(sqlite_url, max_body_bytes=4096)))


def assert_envelope(response: Response, status: int) -> dict[str, Any]:
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"}
    error: dict[str, Any] = body["error"]
    assert set(error) >= ENVELOPE_KEYS
    assert error["code"] == status
    assert error["request_id"] == response.headers["x-request-id"]
    assert error["timestamp"].endswith("Z")
    return error


async def test_unknown_path_is_404_envelope(probe_client: AsyncClient) -> None:
    error = assert_envelope(await probe_client.get("/api/nothing-here"), 404)
    assert error["message"] == "Not Found"
    assert "/api/nothing-here" in error["details"]


async def test_wrong_method_is_405_with_allow(probe_client: AsyncClient) -> None:
    response = await probe_client.delete("/t/echo")
    error = assert_envelope(response, 405)
    assert response.headers["allow"] == "POST"
    assert error["message"] == "Method Not Allowed"


async def test_route_error_keeps_its_status(probe_client: AsyncClient) -> None:
    error = assert_envelope(await probe_client.get("/t/conflict"), 409)
    assert error == error | {"message": "Conflict", "details": "already there"}


async def test_malformed_json_is_400(probe_client: AsyncClient) -> None:
    response = await probe_client.post(
        "/t/echo", content=b'{"name": "x", ', headers={"content-type": "application/json"}
    )
    error = assert_envelope(response, 400)
    assert "malformed JSON" in error["details"]


async def test_validation_error_is_422_with_each_problem(probe_client: AsyncClient) -> None:
    response = await probe_client.post("/t/echo", json={"name": 5, "count": "many"})
    error = assert_envelope(response, 422)
    locations = {tuple(problem["loc"]) for problem in error["errors"]}
    assert locations == {("body", "name"), ("body", "count")}
    assert all(problem["msg"] for problem in error["errors"])


async def test_unknown_fields_are_rejected_not_ignored(probe_client: AsyncClient) -> None:
    response = await probe_client.post("/t/echo", json={"name": "a", "count": 1, "colour": "red"})
    error = assert_envelope(response, 422)
    assert [p["loc"] for p in error["errors"]] == [["body", "colour"]]


async def test_wrong_content_type_is_415(probe_client: AsyncClient) -> None:
    response = await probe_client.post(
        "/t/echo", content=b"name=a&count=1", headers={"content-type": "text/plain"}
    )
    error = assert_envelope(response, 415)
    assert "application/json" in error["details"]


async def test_huge_body_is_413_by_content_length(probe_client: AsyncClient) -> None:
    body = json.dumps({"name": "x" * 10_000, "count": 1})
    error = assert_envelope(
        await probe_client.post(
            "/t/echo", content=body, headers={"content-type": "application/json"}
        ),
        413,
    )
    assert "4096" in error["details"]


async def test_huge_chunked_body_is_413_while_streaming(probe_client: AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"name": "'
        for _ in range(10):
            yield b"x" * 1000
        yield b'", "count": 1}'

    response = await probe_client.post(
        "/t/echo", content=chunks(), headers={"content-type": "application/json"}
    )
    assert "content-length" not in response.request.headers
    assert_envelope(response, 413)


async def test_body_under_the_limit_passes(probe_client: AsyncClient) -> None:
    response = await probe_client.post("/t/echo", json={"name": "ok", "count": 2})
    assert response.status_code == 201
    assert response.json() == {"name": "ok", "count": 2}


@pytest.mark.parametrize(
    "path",
    ["/t/items/%FF%FE", "/t/items/ok?q=%C3%28", "/t/items/a%00b", "/t/items/x?q=a%00"],
)
async def test_bad_bytes_in_path_or_query_are_400(probe_client: AsyncClient, path: str) -> None:
    error = assert_envelope(await probe_client.get(path), 400)
    assert "path" in error["details"] or "query" in error["details"]


async def test_unicode_path_is_fine(probe_client: AsyncClient) -> None:
    response = await probe_client.get("/t/items/caf%C3%A9")
    assert response.status_code == 200
    assert response.json() == {"id": "café"}


async def test_unhandled_exception_is_500_without_internals(
    probe_client: AsyncClient, capsys: pytest.CaptureFixture[str]
) -> None:
    response = await probe_client.get("/t/boom")
    error = assert_envelope(response, 500)
    assert "hunter2" not in response.text
    assert "/srv/secret" not in response.text
    assert "Traceback" not in response.text
    assert error["message"] == "Internal Server Error"
    # ... while the log line with the same request id carries the full story.
    lines = [
        json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")
    ]
    crash = [line for line in lines if line.get("event") == "unhandled_exception"]
    assert len(crash) == 1
    assert crash[0]["request_id"] == error["request_id"]
    assert "RuntimeError" in crash[0]["exception"]
    assert "Traceback" in crash[0]["exception"]


async def test_request_id_kept_when_valid_and_replaced_when_not(probe_client: AsyncClient) -> None:
    kept = await probe_client.get("/livez", headers={"x-request-id": "abc-123.def:4"})
    assert kept.headers["x-request-id"] == "abc-123.def:4"
    replaced = await probe_client.get("/livez", headers={"x-request-id": "bad id\twith spaces"})
    assert replaced.headers["x-request-id"] != "bad id\twith spaces"
    assert len(replaced.headers["x-request-id"]) == 36
    error = assert_envelope(
        await probe_client.get("/nope", headers={"x-request-id": "trace-me"}), 404
    )
    assert error["request_id"] == "trace-me"


async def test_every_response_carries_a_request_id(probe_client: AsyncClient) -> None:
    for response in (
        await probe_client.get("/livez"),
        await probe_client.get("/nope"),
        await probe_client.get("/t/boom"),
        await probe_client.post("/t/echo", content=b"x", headers={"content-type": "text/csv"}),
    ):
        assert response.headers["x-request-id"]


async def test_concurrent_requests_keep_their_own_request_ids(probe_client: AsyncClient) -> None:
    import asyncio

    ids = [f"concurrent-{i}" for i in range(30)]
    responses = await asyncio.gather(
        *(probe_client.get("/t/slow-conflict", headers={"x-request-id": i}) for i in ids)
    )
    assert [r.json()["error"]["request_id"] for r in responses] == ids
