"""Tags and product tags through the HTTP surface, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import orjson
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from catalog.app import create_app
from catalog.db.engine import async_url
from catalog.db.models import AuditEvent
from tests.support.api import create_product, error_of, ok, unique


async def create_tag(client: AsyncClient, **fields: Any) -> dict[str, Any]:
    body = {"name": unique("tag")} | fields
    return ok(await client.post("/api/tags", json=body), 201)  # type: ignore[no-any-return]


async def get_tag(client: AsyncClient, tag_id: str) -> dict[str, Any]:
    return ok(await client.get(f"/api/tags/{tag_id}"))  # type: ignore[no-any-return]


async def tag_product(client: AsyncClient, product_id: str, tag_id: str, **fields: Any) -> Any:
    return await client.post(
        f"/api/data-products/{product_id}/tags", json={"tag_id": tag_id} | fields
    )


async def audit_events(database_url: str, resource_type: str) -> list[tuple[str, str | None]]:
    """(action, resource_id) of the stored audit events of one resource type, in order."""
    engine = create_async_engine(async_url(database_url))
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(
                select(AuditEvent.action, AuditEvent.resource_id)
                .where(AuditEvent.resource_type == resource_type)
                .order_by(AuditEvent.timestamp, AuditEvent.id)
            )
            return [(row.action, row.resource_id) for row in rows]
    finally:
        await engine.dispose()


# --- tags ----------------------------------------------------------------------------------


async def test_create_tag_with_defaults_and_read_it_back(client: AsyncClient) -> None:
    created = await create_tag(client, name="pii")
    assert created["name"] == "pii"
    assert created["category"] == "general"
    assert created["description"] == ""
    assert created["parent_tag_id"] is None
    assert created["usage_count"] == 0
    assert created["created_by"] == "anonymous"
    assert created["id"]
    assert await get_tag(client, created["id"]) == created


async def test_create_child_and_list_direct_children_only(client: AsyncClient) -> None:
    root = await create_tag(client, name="domain", category="business")
    child = await create_tag(client, name="finance", parent_tag_id=root["id"])
    await create_tag(client, name="ledger", parent_tag_id=child["id"])
    await create_tag(client, name="unrelated")
    assert child["parent_tag_id"] == root["id"]

    page = ok(await client.get("/api/tags", params={"parent_tag_id": root["id"]}))
    assert [t["name"] for t in page["items"]] == ["finance"]
    assert page["total"] == 1


async def test_list_filters_pagination_and_fields(client: AsyncClient) -> None:
    for name, category in [
        ("Customer PII", "privacy"),
        ("customer-id", "identity"),
        ("orders", "privacy"),
        ("100%_done", "status"),
    ]:
        await create_tag(client, name=name, category=category)

    everything = ok(await client.get("/api/tags"))
    assert everything["total"] == 4
    assert [t["name"] for t in everything["items"]] == sorted(
        t["name"] for t in everything["items"]
    )

    privacy = ok(await client.get("/api/tags", params={"category": "privacy"}))
    assert {t["name"] for t in privacy["items"]} == {"Customer PII", "orders"}

    customer = ok(await client.get("/api/tags", params={"name": "CUSTOMER"}))
    assert {t["name"] for t in customer["items"]} == {"Customer PII", "customer-id"}
    # LIKE wildcards in the filter are literal characters.
    literal = ok(await client.get("/api/tags", params={"name": "%_"}))
    assert [t["name"] for t in literal["items"]] == ["100%_done"]

    page = ok(await client.get("/api/tags", params={"limit": 2, "offset": 1}))
    assert (page["total"], page["limit"], page["offset"]) == (4, 2, 1)
    assert [t["name"] for t in page["items"]] == [t["name"] for t in everything["items"][1:3]]

    projected = ok(await client.get("/api/tags", params={"fields": "id,name"}))
    assert all(set(item) == {"id", "name"} for item in projected["items"])
    error_of(await client.get("/api/tags", params={"fields": "name,secret"}), 422)
    error_of(await client.get("/api/tags", params={"limit": 0}), 422)


async def test_tree_nests_every_tag_once_and_ignores_paging(client: AsyncClient) -> None:
    data = await create_tag(client, name="data", category="topic")
    sales = await create_tag(client, name="sales", category="topic", parent_tag_id=data["id"])
    await create_tag(client, name="emea", category="topic", parent_tag_id=sales["id"])
    await create_tag(client, name="apac", category="topic", parent_tag_id=sales["id"])
    await create_tag(client, name="hr", category="topic", parent_tag_id=data["id"])
    await create_tag(client, name="archive", category="topic")
    # In another category, under a "topic" parent: a root of its own category's tree.
    await create_tag(client, name="gdpr", category="legal", parent_tag_id=data["id"])

    tree = ok(await client.get("/api/tags", params={"tree": "true", "limit": 1, "offset": 3}))
    assert set(tree) == {"items", "total", "limit", "offset"}
    assert (tree["total"], tree["limit"], tree["offset"]) == (7, 7, 0)

    def shape(nodes: list[dict[str, Any]]) -> list[Any]:
        return [(n["name"], shape(n["children"])) for n in nodes]

    assert shape(tree["items"]) == [
        ("archive", []),
        (
            "data",
            [
                ("gdpr", []),
                ("hr", []),
                ("sales", [("apac", []), ("emea", [])]),
            ],
        ),
    ]
    node = tree["items"][1]
    assert {"id", "name", "category", "usage_count", "parent_tag_id", "children"} <= set(node)

    topic = ok(await client.get("/api/tags", params={"tree": "true", "category": "topic"}))
    assert topic["total"] == 6
    assert [n["name"] for n in topic["items"]] == ["archive", "data"]
    assert [n["name"] for n in topic["items"][1]["children"]] == ["hr", "sales"]
    legal = ok(await client.get("/api/tags", params={"tree": "true", "category": "legal"}))
    assert shape(legal["items"]) == [("gdpr", [])]
    assert legal["total"] == 1

    empty = ok(await client.get("/api/tags", params={"tree": "true", "category": "none"}))
    assert empty == {"items": [], "total": 0, "limit": 0, "offset": 0}

    for params in ({"name": "a"}, {"parent_tag_id": data["id"]}, {"fields": "name"}):
        error_of(await client.get("/api/tags", params={"tree": "true"} | params), 422)
    error_of(await client.get("/api/tags", params={"tree": "maybe"}), 422)


async def test_tree_renders_a_hierarchy_deeper_than_json_encoders_recurse(
    client: AsyncClient,
) -> None:
    depth = 300  # pydantic's serializer gives up at about 255 levels
    parent_id = None
    for level in range(depth):
        parent_id = (await create_tag(client, name=f"level-{level:03d}", parent_tag_id=parent_id))[
            "id"
        ]
    response = await client.get("/api/tags", params={"tree": "true"})
    assert response.status_code == 200, response.text
    tree = orjson.loads(response.content)
    assert tree["total"] == depth
    node, seen = tree["items"][0], 1
    while node["children"]:
        [node] = node["children"]
        seen += 1
    assert seen == depth
    assert node["name"] == f"level-{depth - 1:03d}"


async def test_update_tag_fields_and_move_to_root(client: AsyncClient) -> None:
    parent = await create_tag(client)
    tag = await create_tag(client, parent_tag_id=parent["id"])
    updated = ok(
        await client.patch(
            f"/api/tags/{tag['id']}",
            json={"name": "renamed", "category": "other", "description": "why it exists"},
        )
    )
    assert (updated["name"], updated["category"], updated["description"]) == (
        "renamed",
        "other",
        "why it exists",
    )
    assert updated["parent_tag_id"] == parent["id"]  # not sent, not changed
    moved = ok(await client.patch(f"/api/tags/{tag['id']}", json={"parent_tag_id": None}))
    assert moved["parent_tag_id"] is None
    assert (await get_tag(client, tag["id"]))["name"] == "renamed"

    other = await create_tag(client, name="taken")
    error_of(await client.patch(f"/api/tags/{tag['id']}", json={"name": "taken"}), 409)
    # Keeping its own name is no conflict.
    ok(await client.patch(f"/api/tags/{other['id']}", json={"name": "taken"}))
    error_of(await client.patch(f"/api/tags/{tag['id']}", json={"name": None}), 422)
    error_of(await client.patch(f"/api/tags/{tag['id']}", json={"category": None}), 422)
    error_of(await client.patch(f"/api/tags/{tag['id']}", json={"colour": "red"}), 422)
    error_of(await client.patch(f"/api/tags/{tag['id']}", json={"parent_tag_id": "missing"}), 404)
    error_of(await client.patch("/api/tags/missing", json={"name": "x"}), 404)


async def test_moves_that_would_make_a_cycle_are_409(client: AsyncClient) -> None:
    a = await create_tag(client, name="A")
    b = await create_tag(client, name="B", parent_tag_id=a["id"])
    c = await create_tag(client, name="C", parent_tag_id=b["id"])

    under_grandchild = error_of(
        await client.patch(f"/api/tags/{a['id']}", json={"parent_tag_id": c["id"]}), 409
    )
    assert "cycle" in under_grandchild["details"]
    error_of(await client.patch(f"/api/tags/{a['id']}", json={"parent_tag_id": b["id"]}), 409)
    own = error_of(await client.patch(f"/api/tags/{b['id']}", json={"parent_tag_id": b["id"]}), 409)
    assert "cycle" in own["details"]
    assert (await get_tag(client, a["id"]))["parent_tag_id"] is None
    assert (await get_tag(client, b["id"]))["parent_tag_id"] == a["id"]

    # Moving down a branch that is not its own is fine: C goes under A directly.
    ok(await client.patch(f"/api/tags/{c['id']}", json={"parent_tag_id": a["id"]}))


async def test_concurrent_opposite_moves_cannot_close_a_cycle(client: AsyncClient) -> None:
    for _ in range(5):
        x = await create_tag(client)
        y = await create_tag(client)
        answers = await asyncio.gather(
            client.patch(f"/api/tags/{x['id']}", json={"parent_tag_id": y["id"]}),
            client.patch(f"/api/tags/{y['id']}", json={"parent_tag_id": x["id"]}),
        )
        assert sorted(r.status_code for r in answers) == [200, 409], [r.text for r in answers]
        parents = {(await get_tag(client, t["id"]))["parent_tag_id"] for t in (x, y)}
        assert None in parents


async def test_delete_tag_with_children_is_409_naming_them(client: AsyncClient) -> None:
    parent = await create_tag(client, name="parent")
    first = await create_tag(client, name="child-one", parent_tag_id=parent["id"])
    second = await create_tag(client, name="child-two", parent_tag_id=parent["id"])

    error = error_of(await client.delete(f"/api/tags/{parent['id']}"), 409)
    assert "child-one" in error["details"]
    assert "child-two" in error["details"]
    assert {r["id"] for r in error["referrers"]} == {first["id"], second["id"]}
    assert all(r["type"] == "tag" for r in error["referrers"])

    for child in (first, second):
        ok(await client.delete(f"/api/tags/{child['id']}"), 204)
    ok(await client.delete(f"/api/tags/{parent['id']}"), 204)
    error_of(await client.get(f"/api/tags/{parent['id']}"), 404)
    error_of(await client.delete(f"/api/tags/{parent['id']}"), 404)


async def test_deleting_a_tag_removes_it_from_products(client: AsyncClient) -> None:
    product = await create_product(client)
    tag = await create_tag(client)
    keep = await create_tag(client)
    ok(await tag_product(client, product["id"], tag["id"]), 201)
    ok(await tag_product(client, product["id"], keep["id"]), 201)

    ok(await client.delete(f"/api/tags/{tag['id']}"), 204)
    listed = ok(await client.get(f"/api/data-products/{product['id']}/tags"))
    assert [t["tag_id"] for t in listed["items"]] == [keep["id"]]


async def test_unknown_ids_are_404(client: AsyncClient) -> None:
    product = await create_product(client)
    tag = await create_tag(client)
    error_of(await client.get("/api/tags/missing"), 404)
    error_of(await client.delete("/api/tags/missing"), 404)
    missing_parent = error_of(
        await client.post("/api/tags", json={"name": "orphan", "parent_tag_id": "missing"}), 404
    )
    assert "missing" in missing_parent["details"]
    error_of(await tag_product(client, "missing", tag["id"]), 404)
    error_of(await tag_product(client, product["id"], "missing"), 404)
    error_of(await client.get("/api/data-products/missing/tags"), 404)
    error_of(await client.delete(f"/api/data-products/missing/tags/{tag['id']}"), 404)
    error_of(await client.delete(f"/api/data-products/{product['id']}/tags/{tag['id']}"), 404)
    ok(await client.get("/api/tags", params={"parent_tag_id": "missing"}))


async def test_duplicate_tag_names_are_409(client: AsyncClient) -> None:
    await create_tag(client, name="finance")
    error = error_of(await client.post("/api/tags", json={"name": "finance"}), 409)
    assert "finance" in error["details"]
    # Surrounding whitespace is stripped, so this is the same name.
    error_of(await client.post("/api/tags", json={"name": "  finance "}), 409)


async def test_concurrent_creates_of_one_name_make_one_tag(client: AsyncClient) -> None:
    answers = await asyncio.gather(
        *(client.post("/api/tags", json={"name": "contested"}) for _ in range(10))
    )
    assert sorted(r.status_code for r in answers) == [201] + [409] * 9, [
        r.text for r in answers if r.status_code not in (201, 409)
    ]
    listed = ok(await client.get("/api/tags", params={"name": "contested"}))
    assert listed["total"] == 1


async def test_invalid_tag_bodies_are_422(client: AsyncClient) -> None:
    for body in (
        {},
        {"name": ""},
        {"name": "   "},
        {"name": "x" * 201},
        {"name": 123},
        {"name": ["a"]},
        {"name": "bell\x07"},
        {"name": "ok", "category": ""},
        {"name": "ok", "category": {"a": 1}},
        {"name": "ok", "parent_tag_id": 5},
        {"name": "ok", "description": 5},
        {"name": "ok", "unknown": True},
    ):
        error = error_of(await client.post("/api/tags", json=body), 422)
        assert error["errors"], body
    ok(await client.post("/api/tags", json={"name": "y" * 200}), 201)
    assert ok(await client.get("/api/tags"))["total"] == 1


# --- product tags --------------------------------------------------------------------------


async def test_tag_a_product_list_and_untag(client: AsyncClient) -> None:
    product = await create_product(client)
    tag = await create_tag(client, name="gold", category="quality")
    other = await create_tag(client, name="audited")

    created = ok(
        await tag_product(client, product["id"], tag["id"], confidence=0.75, source="auto"), 201
    )
    assert created["product_id"] == product["id"]
    assert created["tag_id"] == tag["id"]
    assert (created["tag_name"], created["tag_category"]) == ("gold", "quality")
    assert (created["confidence"], created["source"]) == (0.75, "auto")
    assert created["created_by"] == "anonymous"
    assert created["created_at"]

    defaults = ok(await tag_product(client, product["id"], other["id"]), 201)
    assert (defaults["confidence"], defaults["source"]) == (1.0, "manual")

    listed = ok(await client.get(f"/api/data-products/{product['id']}/tags"))
    assert listed["total"] == 2
    assert [t["tag_name"] for t in listed["items"]] == ["audited", "gold"]
    assert listed["items"][1] == created
    second_page = ok(
        await client.get(
            f"/api/data-products/{product['id']}/tags", params={"limit": 1, "offset": 1}
        )
    )
    assert [t["tag_name"] for t in second_page["items"]] == ["gold"]
    assert second_page["total"] == 2
    names = ok(
        await client.get(f"/api/data-products/{product['id']}/tags", params={"fields": "tag_name"})
    )
    assert names["items"] == [{"tag_name": "audited"}, {"tag_name": "gold"}]
    assert (await get_tag(client, tag["id"]))["usage_count"] == 1

    ok(await client.delete(f"/api/data-products/{product['id']}/tags/{tag['id']}"), 204)
    error_of(await client.delete(f"/api/data-products/{product['id']}/tags/{tag['id']}"), 404)
    assert (await get_tag(client, tag["id"]))["usage_count"] == 0
    remaining = ok(await client.get(f"/api/data-products/{product['id']}/tags"))
    assert [t["tag_id"] for t in remaining["items"]] == [other["id"]]


async def test_the_same_tag_twice_on_a_product_is_409(client: AsyncClient) -> None:
    product = await create_product(client)
    tag = await create_tag(client, name="twice")
    ok(await tag_product(client, product["id"], tag["id"]), 201)
    error = error_of(await tag_product(client, product["id"], tag["id"], source="auto"), 409)
    assert "twice" in error["details"]
    assert (await get_tag(client, tag["id"]))["usage_count"] == 1
    listed = ok(await client.get(f"/api/data-products/{product['id']}/tags"))
    assert [t["source"] for t in listed["items"]] == ["manual"]


async def test_invalid_product_tag_bodies_are_422(client: AsyncClient) -> None:
    product = await create_product(client)
    tag = await create_tag(client)
    for extra in (
        {"source": "guessed"},
        {"source": 1},
        {"confidence": 1.5},
        {"confidence": -0.1},
        {"confidence": "high"},
        {"confidence": [0.5]},
        {"tag_id": ""},
        {"tag_id": 42},
        {"weight": 2},
    ):
        body = {"tag_id": tag["id"]} | extra
        response = await client.post(f"/api/data-products/{product['id']}/tags", json=body)
        assert error_of(response, 422)["errors"], extra
    error_of(await client.post(f"/api/data-products/{product['id']}/tags", json={}), 422)
    for edge in (0.0, 1.0):
        other = await create_tag(client)
        assert (
            ok(await tag_product(client, product["id"], other["id"], confidence=edge), 201)[
                "confidence"
            ]
            == edge
        )
    assert (await get_tag(client, tag["id"]))["usage_count"] == 0


async def test_deleting_a_product_gives_back_its_tag_uses(client: AsyncClient) -> None:
    tag = await create_tag(client)
    doomed = await create_product(client)
    kept = await create_product(client)
    ok(await tag_product(client, doomed["id"], tag["id"]), 201)
    ok(await tag_product(client, kept["id"], tag["id"]), 201)
    assert (await get_tag(client, tag["id"]))["usage_count"] == 2

    ok(await client.delete(f"/api/data-products/{doomed['id']}"), 204)
    assert (await get_tag(client, tag["id"]))["usage_count"] == 1
    ok(await client.delete(f"/api/data-products/{kept['id']}"), 204)
    assert (await get_tag(client, tag["id"]))["usage_count"] == 0


# --- usage_count under concurrency ---------------------------------------------------------


async def test_concurrent_tagging_of_many_products_counts_exactly(client: AsyncClient) -> None:
    tag = await create_tag(client)
    products = [await create_product(client) for _ in range(20)]
    answers = await asyncio.gather(*(tag_product(client, p["id"], tag["id"]) for p in products))
    assert [r.status_code for r in answers] == [201] * 20, [r.text for r in answers]
    assert (await get_tag(client, tag["id"]))["usage_count"] == 20

    removals = await asyncio.gather(
        *(client.delete(f"/api/data-products/{p['id']}/tags/{tag['id']}") for p in products)
    )
    assert [r.status_code for r in removals] == [204] * 20, [r.text for r in removals]
    assert (await get_tag(client, tag["id"]))["usage_count"] == 0


async def test_concurrent_identical_taggings_make_one(client: AsyncClient) -> None:
    tag = await create_tag(client)
    product = await create_product(client)
    answers = await asyncio.gather(
        *(tag_product(client, product["id"], tag["id"]) for _ in range(10))
    )
    assert sorted(r.status_code for r in answers) == [201] + [409] * 9, [r.text for r in answers]
    assert (await get_tag(client, tag["id"]))["usage_count"] == 1
    listed = ok(await client.get(f"/api/data-products/{product['id']}/tags"))
    assert listed["total"] == 1


async def test_concurrent_identical_untaggings_count_once(client: AsyncClient) -> None:
    tag = await create_tag(client)
    products = [await create_product(client) for _ in range(2)]
    for product in products:
        ok(await tag_product(client, product["id"], tag["id"]), 201)
    target = products[0]["id"]
    answers = await asyncio.gather(
        *(client.delete(f"/api/data-products/{target}/tags/{tag['id']}") for _ in range(10))
    )
    assert sorted(r.status_code for r in answers) == [204] + [404] * 9, [r.text for r in answers]
    assert (await get_tag(client, tag["id"]))["usage_count"] == 1


# --- roles and audit -----------------------------------------------------------------------


async def test_viewers_read_editors_write(
    make_settings: Callable[..., Any],
    open_client: Callable[[FastAPI], Any],
) -> None:
    editor = await open_client(create_app(make_settings(anonymous_role="editor")))
    viewer = await open_client(create_app(make_settings(anonymous_role="viewer")))
    tag = await create_tag(editor)
    product = await create_product(editor)
    ok(await tag_product(editor, product["id"], tag["id"]), 201)

    ok(await viewer.get("/api/tags"))
    ok(await viewer.get(f"/api/tags/{tag['id']}"))
    ok(await viewer.get("/api/tags", params={"tree": "true"}))
    ok(await viewer.get(f"/api/data-products/{product['id']}/tags"))
    for response in (
        await viewer.post("/api/tags", json={"name": "nope"}),
        await viewer.patch(f"/api/tags/{tag['id']}", json={"name": "nope"}),
        await viewer.delete(f"/api/tags/{tag['id']}"),
        await tag_product(viewer, product["id"], tag["id"]),
        await viewer.delete(f"/api/data-products/{product['id']}/tags/{tag['id']}"),
    ):
        error_of(response, 403)
    assert (await get_tag(viewer, tag["id"]))["usage_count"] == 1


async def test_every_write_is_audited(client: AsyncClient, database_url: str) -> None:
    tag = await create_tag(client)
    product = await create_product(client)
    ok(await client.patch(f"/api/tags/{tag['id']}", json={"description": "audited"}))
    ok(await tag_product(client, product["id"], tag["id"]), 201)
    ok(await client.delete(f"/api/data-products/{product['id']}/tags/{tag['id']}"), 204)
    ok(await client.delete(f"/api/tags/{tag['id']}"), 204)
    error_of(
        await client.post("/api/tags", json={"name": tag["name"] + "-x", "parent_tag_id": "x"}), 404
    )

    assert await audit_events(database_url, "tag") == [
        ("create", tag["id"]),
        ("update", tag["id"]),
        ("delete", tag["id"]),
    ]
    product_events = await audit_events(database_url, "data_product")
    assert [e for e in product_events if e[0] in {"tag", "untag"}] == [
        ("tag", product["id"]),
        ("untag", product["id"]),
    ]
