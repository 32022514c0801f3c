"""Lists cost a fixed number of statements (no N+1); OpenAPI describes every route."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from httpx import AsyncClient
from sqlalchemy import event
from sqlalchemy.engine import Engine

from catalog.notify.dispatcher import Dispatcher
from catalog.openlineage.applier import LineageApplier
from tests.support.api import create_product, ok
from tests.support.search import by_search_writer

# Background loops polling on their own (their statements are not the request's).
POLLERS = {LineageApplier.name, Dispatcher.name}


def by_poller() -> bool:
    task = asyncio.current_task()
    return by_search_writer() or (task is not None and task.get_name() in POLLERS)


@pytest.fixture
def statements() -> Iterator[list[str]]:
    """Every SQL statement any engine runs while the test is in this block."""
    seen: list[str] = []

    def record(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        if not by_poller():  # not the search index's or another background loop's reads
            seen.append(statement)

    event.listen(Engine, "before_cursor_execute", record)
    yield seen
    event.remove(Engine, "before_cursor_execute", record)


async def _count(client: AsyncClient, statements: list[str], path: str) -> int:
    statements.clear()
    page = ok(await client.get(path, params={"limit": 500}))
    assert page["items"], path
    return sum(1 for s in statements if s.lstrip().upper().startswith("SELECT"))


async def test_list_statement_count_does_not_grow_with_items(
    client: AsyncClient, statements: list[str]
) -> None:
    inline = {
        "data_element_concept": {"name": "N1", "object_class": "o", "property": "p"},
        "representation": {"name": "r"},
    }
    product = await create_product(client)
    member_url = f"/api/data-products/{product['id']}/elements"

    async def grow(total: int) -> None:
        have = ok(await client.get("/api/data-elements?limit=1"))["total"]
        items = [{"name": f"n1-{i}", **inline} for i in range(have, total)]
        created = ok(await client.post("/api/data-elements/bulk", json={"items": items}))
        ok(
            await client.post(
                "/api/data-products/bulk",
                json={
                    "items": [
                        {"name": f"n1-product-{i}", "team": "t", "category": "c", "owner": "o"}
                        for i in range(have, total)
                    ]
                },
            )
        )
        for result in created["results"]:
            ok(await client.post(member_url, json={"data_element_id": result["id"]}), 201)

    paths = [
        "/api/data-elements",
        "/api/data-products",
        member_url,
        "/api/data-element-concepts",
        "/api/representations",
    ]
    await grow(10)
    small = {p: await _count(client, statements, p) for p in paths}
    await grow(100)
    large = {p: await _count(client, statements, p) for p in paths}
    assert large == small, "a list's statement count must not depend on its size"
    assert all(count <= 3 for count in large.values()), large  # (parent,) count, page


async def test_openapi_describes_every_route(client: AsyncClient) -> None:
    spec = ok(await client.get("/openapi.json"))
    operations = [
        (path, method, op)
        for path, methods in spec["paths"].items()
        for method, op in methods.items()
    ]
    assert len(operations) > 60
    for path, method, op in operations:
        responses = op["responses"]
        success = [code for code in responses if code.startswith("2")]
        assert success, f"{method} {path} documents no success answer"
        for code in success:
            # (/api/v1/lineage answers 201 with an empty body, as Marquez does)
            if code != "204" and path not in ("/metrics", "/api/v1/lineage"):
                content = responses[code].get("content", {}).get("application/json", {})
                assert content.get("schema"), f"{method} {path} {code} has no response model"
        for code in ("422", "500", "503"):
            assert code in responses, f"{method} {path} does not document {code}"
            schema = responses[code]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorEnvelope"}, (path, code)
        if method in {"post", "patch", "put"} and "requestBody" in op:
            assert op["requestBody"]["content"]["application/json"]["schema"], (method, path)
    documented = {path for path, _, _ in operations}
    for expected in (
        "/api/data-elements/bulk",
        "/api/data-products/{product_id}/versions",
        "/api/data-products/{product_id}/lineage",
        "/catalog/data-elements/bulk",
    ):
        assert expected in documented
