"""Data products, versions, member elements and lineage, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from fastapi import FastAPI
from httpx import AsyncClient

from catalog.settings import Settings
from tests.support.api import create_element, create_product, error_of, ok, unique


async def test_product_crud(client: AsyncClient) -> None:
    product = await create_product(client, name="Customer 360", metadata={"tier": 1})
    assert (product["status"], product["visibility"], product["revision"]) == ("draft", "public", 1)
    assert product["metadata"] == {"tier": 1}
    url = f"/api/data-products/{product['id']}"
    assert ok(await client.get(url)) == product
    updated = ok(await client.patch(url, json={"description": "All about customers"}))
    assert updated["description"] == "All about customers"
    assert updated["revision"] == 2
    assert (await client.delete(url)).status_code == 204
    error_of(await client.get(url), 404)
    error_of(await client.delete(url), 404)


@pytest.mark.parametrize(
    "override",
    [
        {"name": ""},
        {"name": "n" * 201},
        {"team": None},
        {"status": "retired"},
        {"visibility": "secret"},
        {"metadata": "not an object"},
        {"owner": 7},
        {"extra_field": True},
    ],
)
async def test_bad_products_are_422(client: AsyncClient, override: dict) -> None:  # type: ignore[type-arg]
    body = {"name": unique("p"), "team": "t", "category": "c", "owner": "o"} | override
    error_of(await client.post("/api/data-products", json=body), 422)


async def test_duplicate_product_names_are_409(client: AsyncClient) -> None:
    await create_product(client, name="Only Once")
    error_of(
        await client.post(
            "/api/data-products",
            json={"name": "Only Once", "team": "t", "category": "c", "owner": "o"},
        ),
        409,
    )
    other = await create_product(client, name="Another")
    error_of(
        await client.patch(f"/api/data-products/{other['id']}", json={"name": "Only Once"}), 409
    )


async def test_status_lifecycle(client: AsyncClient) -> None:
    product = await create_product(client)
    url = f"/api/data-products/{product['id']}"
    error_of(await client.patch(url, json={"status": "deprecated"}), 409)
    assert ok(await client.patch(url, json={"status": "published"}))["status"] == "published"
    error_of(await client.patch(url, json={"status": "draft"}), 409)
    assert ok(await client.patch(url, json={"status": "deprecated"}))["status"] == "deprecated"
    assert ok(await client.patch(url, json={"status": "published"}))["status"] == "published"


async def test_list_filters_and_total(client: AsyncClient) -> None:
    for i in range(5):
        await create_product(client, team="risk" if i < 2 else "ops", category=f"c{i % 2}")
    assert ok(await client.get("/api/data-products", params={"team": "risk"}))["total"] == 2
    page = ok(await client.get("/api/data-products", params={"limit": 2}))
    assert (page["total"], len(page["items"])) == (5, 2)
    both = ok(await client.get("/api/data-products", params={"team": "ops", "category": "c0"}))
    assert both["total"] == 2


async def test_versions_semver_order_latest_and_immutability(client: AsyncClient) -> None:
    product = await create_product(client)
    url = f"/api/data-products/{product['id']}/versions"
    for version in ["1.2.0", "1.10.0", "1.9.0", "2.0.0-rc.1", "1.10.0-alpha", "0.9.0+build.7"]:
        ok(await client.post(url, json={"version": version}), 201)
    listed = ok(await client.get(url, params={"order": "asc"}))
    assert [v["version"] for v in listed["items"]] == [
        "0.9.0+build.7",
        "1.2.0",
        "1.9.0",
        "1.10.0-alpha",
        "1.10.0",
        "2.0.0-rc.1",
    ]
    newest_first = ok(await client.get(url))
    assert newest_first["items"][0]["version"] == "2.0.0-rc.1"
    assert ok(await client.get(url + "/latest"))["version"] == "1.10.0"  # stable beats rc
    error_of(await client.post(url, json={"version": "1.10.0"}), 409)
    deprecated = ok(await client.post(url + "/1.10.0/deprecate", json={"reason": "bad data"}))
    assert deprecated["deprecation_reason"] == "bad data"
    assert ok(await client.get(url + "/latest"))["version"] == "1.9.0"
    error_of(await client.post(url + "/1.10.0/deprecate", json={"reason": "again"}), 409)
    error_of(await client.post(url + "/1.9.0/deprecate", json={"reason": ""}), 422)
    # versions are immutable: no update or delete route exists
    assert (await client.patch(url + "/1.2.0", json={})).status_code == 405
    assert (await client.delete(url + "/1.2.0")).status_code == 405
    error_of(await client.get(url + "/9.9.9"), 404)


@pytest.mark.parametrize("garbage", ["1.2", "v1.2.0", "1.2.0.0", "01.2.0", "latest", "", "1.2.x"])
async def test_semver_garbage_is_422(client: AsyncClient, garbage: str) -> None:
    product = await create_product(client)
    error = error_of(
        await client.post(
            f"/api/data-products/{product['id']}/versions", json={"version": garbage}
        ),
        422,
    )
    assert error["errors"][0]["loc"] == ["body", "version"]


async def test_version_snapshot_freezes_the_product(client: AsyncClient) -> None:
    product = await create_product(client, description="before")
    element = await create_element(client, name="snap_element")
    ok(
        await client.post(
            f"/api/data-products/{product['id']}/elements",
            json={"data_element_id": element["id"], "role": "key"},
        ),
        201,
    )
    version = ok(
        await client.post(
            f"/api/data-products/{product['id']}/versions", json={"version": "1.0.0"}
        ),
        201,
    )
    ok(await client.patch(f"/api/data-products/{product['id']}", json={"description": "after"}))
    frozen = ok(await client.get(f"/api/data-products/{product['id']}/versions/1.0.0"))
    assert frozen == version
    assert frozen["snapshot"]["product"]["description"] == "before"
    assert [e["name"] for e in frozen["snapshot"]["elements"]] == ["snap_element"]


async def test_member_elements(client: AsyncClient) -> None:
    product = await create_product(client)
    element = await create_element(client)
    url = f"/api/data-products/{product['id']}/elements"
    member = ok(await client.post(url, json={"data_element_id": element["id"], "role": "key"}), 201)
    assert (member["data_element_id"], member["role"], member["name"]) == (
        element["id"],
        "key",
        element["name"],
    )
    error_of(await client.post(url, json={"data_element_id": element["id"]}), 409)
    error_of(await client.post(url, json={"data_element_id": "missing"}), 404)
    assert ok(await client.get(url))["total"] == 1
    assert (await client.delete(f"{url}/{element['id']}")).status_code == 204
    error_of(await client.delete(f"{url}/{element['id']}"), 404)


async def test_lineage_directions_depth_and_cycles(client: AsyncClient) -> None:
    a, b, c, d = [await create_product(client, name=f"L{n}") for n in "ABCD"]
    element = await create_element(client)

    async def feed(downstream: dict, upstream_id: str, kind: str = "product") -> None:  # type: ignore[type-arg]
        ok(
            await client.post(
                f"/api/data-products/{downstream['id']}/lineage",
                json={"upstream_id": upstream_id, "upstream_type": kind},
            ),
            201,
        )

    await feed(b, a["id"])  # A -> B -> C -> D, and element -> A
    await feed(c, b["id"])
    await feed(d, c["id"])
    await feed(a, element["id"], "element")

    down = ok(
        await client.get(
            f"/api/data-products/{a['id']}/lineage", params={"direction": "downstream", "depth": 2}
        )
    )
    assert {(n["name"], n["depth"]) for n in down["nodes"]} == {("LA", 0), ("LB", 1), ("LC", 2)}
    assert down["truncated"] is True  # D lies beyond depth 2
    up = ok(
        await client.get(
            f"/api/data-products/{d['id']}/lineage", params={"direction": "upstream", "depth": 10}
        )
    )
    assert [n["name"] for n in up["nodes"]] == ["LD", "LC", "LB", "LA", element["name"]]
    assert up["truncated"] is False
    assert len(up["edges"]) == 4
    both = ok(await client.get(f"/api/data-products/{b['id']}/lineage"))
    assert {n["name"] for n in both["nodes"]} == {"LA", "LB", "LC", "LD", element["name"]}

    cycle = error_of(
        await client.post(f"/api/data-products/{a['id']}/lineage", json={"upstream_id": d["id"]}),
        409,
    )
    assert "cycle" in cycle["details"]
    error_of(
        await client.post(f"/api/data-products/{a['id']}/lineage", json={"upstream_id": a["id"]}),
        409,
    )
    error_of(
        await client.post(f"/api/data-products/{b['id']}/lineage", json={"upstream_id": a["id"]}),
        409,
    )
    error_of(
        await client.post(f"/api/data-products/{b['id']}/lineage", json={"upstream_id": "missing"}),
        404,
    )
    for params in ({"depth": 0}, {"depth": 51}, {"direction": "sideways"}):
        error_of(await client.get(f"/api/data-products/{a['id']}/lineage", params=params), 422)

    assert (
        await client.delete(f"/api/data-products/{c['id']}/lineage/{b['id']}")
    ).status_code == 204
    cut = ok(
        await client.get(
            f"/api/data-products/{a['id']}/lineage", params={"direction": "downstream", "depth": 10}
        )
    )
    assert {n["name"] for n in cut["nodes"]} == {"LA", "LB"}
    # Deleting a product removes the edges that touch it.
    assert (await client.delete(f"/api/data-products/{a['id']}")).status_code == 204
    orphan = ok(await client.get(f"/api/data-products/{b['id']}/lineage"))
    assert [n["name"] for n in orphan["nodes"]] == ["LB"]


async def test_lineage_size_is_bounded(
    make_settings: Callable[..., Settings], open_client: Callable[[FastAPI], Awaitable[AsyncClient]]
) -> None:
    from catalog.app import create_app

    client = await open_client(create_app(make_settings(lineage_max_nodes=10)))
    hub = await create_product(client, name="hub")
    for i in range(15):
        spoke = await create_product(client, name=f"spoke-{i}")
        ok(
            await client.post(
                f"/api/data-products/{spoke['id']}/lineage", json={"upstream_id": hub["id"]}
            ),
            201,
        )
    graph = ok(await client.get(f"/api/data-products/{hub['id']}/lineage"))
    assert len(graph["nodes"]) == 10
    assert graph["truncated"] is True


async def test_bulk_products(client: AsyncClient) -> None:
    await create_product(client, name="exists")
    items = [
        {"name": "bulk-1", "team": "t", "category": "c", "owner": "o"},
        {"name": "exists", "team": "t", "category": "c", "owner": "o"},
        {"name": "bulk-2", "team": "t", "category": "c", "owner": "o", "status": "bogus"},
        {"name": "bulk-1", "team": "t", "category": "c", "owner": "o"},
        {"name": "bulk-3", "team": "t", "category": "c", "owner": "o", "metadata": {"k": 1}},
    ]
    answer = ok(await client.post("/api/data-products/bulk", json={"items": items}))
    assert [(r["status"], r.get("code")) for r in answer["results"]] == [
        ("created", None),
        ("error", 409),
        ("error", 422),
        ("error", 409),
        ("created", None),
    ]
    created = ok(await client.get(f"/api/data-products/{answer['results'][4]['id']}"))
    assert created["metadata"] == {"k": 1}
    assert ok(await client.get("/api/data-products"))["total"] == 3
    error_of(await client.post("/api/data-products/bulk", json={"items": [items[0]] * 1001}), 413)


async def test_concurrent_creates_of_one_name_leave_one_product(client: AsyncClient) -> None:
    body = {"name": "raced", "team": "t", "category": "c", "owner": "o"}
    responses = await asyncio.gather(
        *(client.post("/api/data-products", json=body) for _ in range(8))
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(201) == 1
    assert set(statuses) <= {201, 409}
    assert ok(await client.get("/api/data-products", params={"name": "raced"}))["total"] == 1
