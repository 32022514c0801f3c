"""The audit API: the LangExtract trail and the audit events every write records."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient

from catalog.app import create_app
from catalog.settings import Settings
from tests.support.api import create_element, create_product, error_of, ok, unique

LANGEXTRACT = "/api/audit/langextract"
EVENTS = "/api/audit/events"

FULL_RECORD = {
    "extraction_id": "ext-1",
    "user_id": "alice",
    "context": "Quarterly filing, page 3",
    "operation_type": "extract",
    "request": {"text": "Revenue was 10M", "schema": "finance"},
    "response": {"entities": [{"type": "revenue", "value": 10_000_000}]},
    "processing_time_ms": 1234,
    "confidence": 0.87,
    "schema_version": "1.2.0",
    "quality_metrics": {"precision": 0.9, "recall": 0.8},
    "metadata": {"model": "gemini", "nested": {"ok": True}},
}


async def record(client: AsyncClient, **fields: Any) -> dict[str, Any]:
    body = {"extraction_id": unique("ext"), "user_id": "alice", "operation_type": "extract"}
    return ok(await client.post(LANGEXTRACT, json=body | fields), 201)  # type: ignore[no-any-return]


async def test_record_and_read_a_langextract_operation(client: AsyncClient) -> None:
    created = ok(await client.post(LANGEXTRACT, json=FULL_RECORD), 201)
    assert created["id"]
    assert datetime.fromisoformat(created["timestamp"]).tzinfo is not None
    assert {k: created[k] for k in FULL_RECORD} == FULL_RECORD
    assert created["recorded_by"] == "anonymous"
    assert ok(await client.get(f"{LANGEXTRACT}/{created['id']}")) == created
    error_of(await client.get(f"{LANGEXTRACT}/missing"), 404)
    minimal = await record(client)
    assert (minimal["context"], minimal["request"], minimal["metadata"]) == ("", {}, {})
    assert (minimal["processing_time_ms"], minimal["confidence"]) == (None, None)
    # The write itself is an audit event.
    events = ok(await client.get(EVENTS, params={"resource_id": created["id"]}))
    [event] = events["items"]
    assert (event["action"], event["resource_type"]) == ("create", "langextract_audit")
    assert event["details"] == {"extraction_id": "ext-1", "operation_type": "extract"}


@pytest.mark.parametrize(
    "override",
    [
        {"extraction_id": ""},
        {"extraction_id": None},
        {"user_id": "   "},
        {"operation_type": ""},
        {"operation_type": "o" * 101},
        {"processing_time_ms": -1},
        {"processing_time_ms": 2**31},
        {"processing_time_ms": "fast"},
        {"confidence": 1.01},
        {"confidence": -0.1},
        {"confidence": "high"},
        {"request": ["a", "list"]},
        {"response": "text"},
        {"quality_metrics": 5},
        {"metadata": [1]},
        {"request": {"nul": "a\u0000b"}},
        {"context": "bell\u0007"},
        {"unknown_field": 1},
    ],
)
async def test_bad_langextract_records_are_422(
    client: AsyncClient, override: dict[str, Any]
) -> None:
    body = {"extraction_id": "e", "user_id": "u", "operation_type": "extract"} | override
    error_of(await client.post(LANGEXTRACT, json=body), 422)
    for required in ("extraction_id", "user_id", "operation_type"):
        missing = {"extraction_id": "e", "user_id": "u", "operation_type": "o"}
        missing.pop(required)
        error_of(await client.post(LANGEXTRACT, json=missing), 422)
    assert ok(await client.get(LANGEXTRACT))["total"] == 0


async def test_langextract_filters_order_and_pages(client: AsyncClient) -> None:
    first = await record(client, user_id="alice", operation_type="extract", extraction_id="x1")
    second = await record(client, user_id="bob", operation_type="validate", extraction_id="x1")
    third = await record(client, user_id="alice", operation_type="validate", extraction_id="x2")

    def ids(page: dict[str, Any]) -> list[str]:
        return [item["id"] for item in page["items"]]

    everything = ok(await client.get(LANGEXTRACT))
    assert ids(everything) == [third["id"], second["id"], first["id"]]  # newest first
    assert everything["total"] == 3
    for params, expected in [
        ({"user_id": "alice"}, [third, first]),
        ({"operation_type": "validate"}, [third, second]),
        ({"extraction_id": "x1"}, [second, first]),
        ({"user_id": "alice", "operation_type": "validate"}, [third]),
        ({"user_id": "nobody"}, []),
        # inclusive bounds, to the microsecond
        ({"since": second["timestamp"]}, [third, second]),
        ({"until": second["timestamp"]}, [second, first]),
        ({"since": second["timestamp"], "until": second["timestamp"]}, [second]),
    ]:
        page = ok(await client.get(LANGEXTRACT, params=params))
        assert ids(page) == [r["id"] for r in expected], params
        assert page["total"] == len(expected)
    page = ok(await client.get(LANGEXTRACT, params={"limit": 1, "offset": 1}))
    assert (ids(page), page["total"], page["limit"], page["offset"]) == ([second["id"]], 3, 1, 1)
    projected = ok(await client.get(LANGEXTRACT, params={"fields": "id,user_id"}))
    assert projected["items"][0] == {"id": third["id"], "user_id": "alice"}
    # A bound in another timezone means the same instant.
    later = datetime.fromisoformat(third["timestamp"]).astimezone(timezone(timedelta(hours=5)))
    assert ok(await client.get(LANGEXTRACT, params={"since": later.isoformat()}))["total"] == 1


@pytest.mark.parametrize("path", [LANGEXTRACT, EVENTS])
@pytest.mark.parametrize(
    "params",
    [
        {"since": "yesterday"},
        {"until": "2026-13-01T00:00:00Z"},
        {"since": "2026-01-01T00:00:00"},  # no timezone
        {"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"},
        {"limit": 0},
        {"limit": 501},
        {"offset": -1},
        {"fields": "id,nope"},
    ],
)
async def test_bad_queries_are_422(client: AsyncClient, path: str, params: dict[str, Any]) -> None:
    error_of(await client.get(path, params=params), 422)


async def test_writes_elsewhere_appear_as_audit_events(client: AsyncClient) -> None:
    started = datetime.now(UTC)
    product_request = unique("req-product")
    product = ok(
        await client.post(
            "/api/data-products",
            json={"name": unique("p"), "team": "t", "category": "c", "owner": "o"},
            headers={"X-Request-ID": product_request},
        ),
        201,
    )
    element = await create_element(client)
    delete_request = unique("req-delete")
    response = await client.delete(
        f"/api/data-elements/{element['id']}", headers={"X-Request-ID": delete_request}
    )
    assert response.status_code == 204
    finished = datetime.now(UTC)

    [created] = ok(await client.get(EVENTS, params={"request_id": product_request}))["items"]
    assert created["actor"] == "anonymous"
    assert created["actor_role"] == "admin"
    assert (created["action"], created["resource_type"], created["resource_id"]) == (
        "create",
        "data_product",
        product["id"],
    )
    assert created["client_ip"] == "127.0.0.1"

    element_events = ok(await client.get(EVENTS, params={"resource_id": element["id"]}))
    assert [e["action"] for e in element_events["items"]] == ["delete", "create"]  # newest first
    deleted = element_events["items"][0]
    assert (deleted["resource_type"], deleted["request_id"]) == ("data_element", delete_request)
    assert deleted["before"]["name"] == element["name"]
    assert deleted["after"] is None

    for params, expect in [
        ({"action": "delete"}, {element["id"]}),
        ({"resource_type": "data_product"}, {product["id"]}),
        ({"actor": "anonymous", "resource_type": "data_product"}, {product["id"]}),
        ({"actor": "someone-else"}, set()),
        ({"since": started.isoformat(), "action": "delete"}, {element["id"]}),
        ({"until": started.isoformat()}, set()),
        ({"since": (finished + timedelta(seconds=1)).isoformat()}, set()),
    ]:
        page = ok(await client.get(EVENTS, params=params))
        assert {e["resource_id"] for e in page["items"]} == expect, params
        assert page["total"] == len(page["items"])
    everything = ok(await client.get(EVENTS))
    stamps = [e["timestamp"] for e in everything["items"]]
    assert stamps == sorted(stamps, reverse=True)
    page = ok(await client.get(EVENTS, params={"limit": 1, "offset": 1}))
    assert page["items"][0]["id"] == everything["items"][1]["id"]
    projected = ok(await client.get(EVENTS, params={"fields": "action,request_id", "limit": 1}))
    assert projected["items"] == [{"action": "delete", "request_id": delete_request}]


async def test_events_record_the_callers_role(
    make_settings: Callable[..., Settings],
    open_client: Callable[[FastAPI], Awaitable[AsyncClient]],
) -> None:
    steward = await open_client(create_app(make_settings(anonymous_role="steward")))
    product = await create_product(steward)
    [event] = ok(await steward.get(EVENTS, params={"resource_id": product["id"]}))["items"]
    assert (event["actor"], event["actor_role"]) == ("anonymous", "steward")


async def test_reading_the_trail_needs_a_steward(
    make_settings: Callable[..., Settings],
    open_client: Callable[[FastAPI], Awaitable[AsyncClient]],
) -> None:
    editor = await open_client(create_app(make_settings(anonymous_role="editor")))
    created = await record(editor)
    for path in (LANGEXTRACT, f"{LANGEXTRACT}/{created['id']}", EVENTS):
        error_of(await editor.get(path), 403)
    viewer = await open_client(create_app(make_settings(anonymous_role="viewer")))
    body = {"extraction_id": "e", "user_id": "u", "operation_type": "extract"}
    error_of(await viewer.post(LANGEXTRACT, json=body), 403)


async def test_concurrent_records_are_all_kept(client: AsyncClient) -> None:
    await asyncio.gather(*(record(client, extraction_id="burst") for _ in range(20)))
    page = ok(await client.get(LANGEXTRACT, params={"extraction_id": "burst"}))
    assert page["total"] == 20
    assert len({item["id"] for item in page["items"]}) == 20
    events = ok(await client.get(EVENTS, params={"resource_type": "langextract_audit"}))
    assert events["total"] == 20


@pytest.mark.parametrize("limits", [True, False], ids=["limits-on", "limits-off"])
async def test_behind_a_trusted_proxy_the_trail_names_the_client(
    make_settings: Callable[..., Settings],
    open_client: Callable[[FastAPI], Awaitable[AsyncClient]],
    limits: bool,
) -> None:
    """The address a trusted proxy names, whether or not rate limits run (they used to be
    what resolved it: with them off, the trail named the proxy)."""
    settings = make_settings(trusted_proxies="127.0.0.1", rate_limit_enabled=limits)
    client = await open_client(create_app(settings))
    request_id = unique("req-proxied")
    headers = {"X-Forwarded-For": "198.51.100.7", "X-Request-ID": request_id}
    body = {"name": unique("p"), "team": "t", "category": "c", "owner": "o"}
    ok(await client.post("/api/data-products", json=body, headers=headers), 201)
    [created] = ok(await client.get(EVENTS, params={"request_id": request_id}))["items"]
    assert created["client_ip"] == "198.51.100.7"
