"""Discovery through the HTTP surface, on SQLite and PostgreSQL: the search index follows the
catalog's writes (tests wait for it through /healthz, `caught_up`)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient

from catalog.app import create_app
from tests.support.api import create_element, create_product, error_of, ok
from tests.support.db import execute, query
from tests.support.lifespan import started
from tests.support.search import caught_up
from tests.support.wait import until

SEARCH = "/api/discover/search"


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 10.0) -> Any:
    """Poll until `check()` returns something truthy (background writes land)."""
    return await until(check, f"{check.__name__} answering", timeout)


@pytest.fixture
async def search_client(
    make_settings: Callable[..., Any], open_client: Callable[[FastAPI], Awaitable[AsyncClient]]
) -> AsyncClient:
    settings = make_settings(search_history_flush_interval_s=0.05, search_usage_interval_s=0.05)
    return await open_client(create_app(settings))


async def tag(client: AsyncClient, product: dict[str, Any], name: str, **fields: Any) -> str:
    found = ok(await client.get("/api/tags", params={"name": name}))["items"]
    exact = [t for t in found if t["name"] == name]
    tag_id = (
        exact[0]["id"]
        if exact
        else ok(await client.post("/api/tags", json={"name": name, **fields}), 201)["id"]
    )
    ok(await client.post(f"/api/data-products/{product['id']}/tags", json={"tag_id": tag_id}), 201)
    return tag_id  # type: ignore[no-any-return]


async def search(client: AsyncClient, **params: Any) -> dict[str, Any]:
    """A search once the index holds every write made so far."""
    await caught_up(client)
    return ok(await client.get(SEARCH, params=params))  # type: ignore[no-any-return]


async def names(client: AsyncClient, **params: Any) -> list[str]:
    return [r["name"] for r in (await search(client, **params))["results"]]


async def views(client: AsyncClient, product: dict[str, Any], n: int, user: str = "u") -> None:
    """`n` views, then wait until the index's popularity counts them."""
    for i in range(n):
        ok(
            await client.post(
                f"/api/data-products/{product['id']}/usage",
                json={"event": "view", "user_id": f"{user}{i}"},
            ),
            201,
        )
    await caught_up(client, usage_since=datetime.now(UTC))


@pytest.fixture
async def catalog(search_client: AsyncClient) -> dict[str, dict[str, Any]]:
    """A small catalog with one obviously right answer per kind of query."""
    client = search_client
    made = {
        "customer": await create_product(
            client,
            name="Customer 360",
            team="marketing",
            category="analytics",
            description="Everything known about each customer.",
            status="published",
        ),
        "revenue": await create_product(
            client,
            name="Monthly Revenue Report",
            team="finance",
            category="reporting",
            description="Booked revenue by month and region.",
            status="published",
        ),
        "fraud": await create_product(
            client,
            name="Fraud Alerts",
            team="risk",
            category="operational",
            description="Suspicious card transactions flagged in real time.",
        ),
        "ledger": await create_product(
            client,
            name="General Ledger",
            team="finance",
            category="reporting",
            description="Balances per account, closing entries and journal lines.",
            status="published",
        ),
        "mentions": await create_product(
            client,
            name="Support Tickets",
            team="customer-success",
            category="operational",
            description="Tickets raised by customers, mentions revenue impact.",
        ),
    }
    await tag(client, made["ledger"], "pii")
    parent = ok(await client.post("/api/tags", json={"name": "finance-domain"}), 201)
    ok(
        await client.post("/api/tags", json={"name": "accounting", "parent_tag_id": parent["id"]}),
        201,
    )
    await tag(client, made["revenue"], "accounting")
    element = await create_element(
        client, name="iban_number", definition="International bank account number"
    )
    ok(
        await client.post(
            f"/api/data-products/{made['ledger']['id']}/elements",
            json={"data_element_id": element["id"]},
        ),
        201,
    )
    return made


async def test_relevance_puts_the_right_product_first(
    search_client: AsyncClient, catalog: dict[str, dict[str, Any]]
) -> None:
    client = search_client
    assert (await names(client, q="custmer"))[0] == "Customer 360"  # typo
    assert (await names(client, q="reven"))[0] == "Monthly Revenue Report"  # prefix
    assert (await names(client, q="fraud alerts"))[0] == "Fraud Alerts"  # multi-word
    assert (await names(client, q="pii"))[0] == "General Ledger"  # tag name
    assert (await names(client, q="iban"))[0] == "General Ledger"  # member element
    # a name match beats a mention in another product's description
    revenue = await names(client, q="revenue")
    assert revenue[0] == "Monthly Revenue Report"
    assert "Support Tickets" in revenue


async def test_total_count_is_every_match_and_pages_are_stable(search_client: AsyncClient) -> None:
    for i in range(23):
        await create_product(search_client, name=f"Sales Cube {i:02d}", team="sales")
    first = await search(search_client, **{"q": "sales", "limit": 10})
    assert first["total_count"] == 23
    assert len(first["results"]) == 10
    seen: list[str] = []
    for offset in (0, 10, 20):
        page = await search(search_client, **{"q": "sales", "limit": 10, "offset": offset})
        seen += [r["id"] for r in page["results"]]
    assert len(seen) == len(set(seen)) == 23
    beyond = await search(search_client, **{"q": "sales", "offset": 100})
    assert (beyond["results"], beyond["total_count"]) == ([], 23)


async def test_filters_and_facets_agree(
    search_client: AsyncClient, catalog: dict[str, dict[str, Any]]
) -> None:
    everything = await search(search_client)
    assert everything["total_count"] == 5
    facets = everything["facets"]
    assert sum(v["count"] for v in facets["team"]) == everything["total_count"]
    for facet in ("team", "category", "status"):
        for value in facets[facet]:
            filtered = await search(search_client, **{facet: value["value"]})
            assert filtered["total_count"] == value["count"], (facet, value)
    finance = await search(search_client, **{"team": "finance", "status": "published"})
    assert {r["name"] for r in finance["results"]} == {"Monthly Revenue Report", "General Ledger"}
    assert {v["value"] for v in finance["facets"]["team"]} == {"finance"}
    by_tag = await search(search_client, **{"tag": "pii"})
    assert [r["name"] for r in by_tag["results"]] == ["General Ledger"]
    assert {"value": "pii", "count": 1} in by_tag["facets"]["tag"]


async def test_tag_filter_includes_child_tags_and_matches_by_name(
    search_client: AsyncClient, catalog: dict[str, dict[str, Any]]
) -> None:
    assert await names(search_client, tag="finance-domain") == ["Monthly Revenue Report"]
    assert await names(search_client, tag="ACCOUNTING") == ["Monthly Revenue Report"]
    assert await names(search_client, tag="no-such-tag") == []


async def test_sorts(search_client: AsyncClient, catalog: dict[str, dict[str, Any]]) -> None:
    by_name = await names(search_client, sort_by="name")
    assert by_name == sorted(by_name, key=str.lower)
    ok(
        await search_client.patch(
            f"/api/data-products/{catalog['fraud']['id']}",
            json={"description": "Now with chargebacks."},
        )
    )
    assert (await names(search_client, sort_by="recent"))[0] == "Fraud Alerts"
    await views(search_client, catalog["ledger"], 5)
    assert (await names(search_client, sort_by="popularity"))[0] == "General Ledger"


async def test_popularity_breaks_text_ties_and_explain_shows_why(
    search_client: AsyncClient,
) -> None:
    quiet = await create_product(search_client, name="Inventory Snapshot A")
    busy = await create_product(search_client, name="Inventory Snapshot B")
    await views(search_client, busy, 30)
    answer = await search(search_client, **{"q": "inventory snapshot", "explain": "true"})
    assert [r["id"] for r in answer["results"]] == [busy["id"], quiet["id"]]
    top = answer["results"][0]["explain"]
    assert top["popularity"] > answer["results"][1]["explain"]["popularity"]
    weights = top["weights"]
    blended = sum(top[k] * weights[k] for k in ("text", "popularity", "quality", "freshness"))
    assert answer["results"][0]["score"] == pytest.approx(blended, abs=1e-4)
    assert top["text_score"] > 0  # the engine's own BM25 score, before normalisation
    plain = await search(search_client, **{"q": "inventory"})
    assert plain["results"][0]["explain"] is None


async def test_index_follows_every_change(search_client: AsyncClient) -> None:
    product = await create_product(search_client, name="Warehouse Stock")
    ok(
        await search_client.patch(
            f"/api/data-products/{product['id']}", json={"name": "Depot Inventory"}
        )
    )
    assert await names(search_client, q="depot") == ["Depot Inventory"]
    assert await names(search_client, q="warehouse") == []
    tag_id = await tag(search_client, product, "perishables")
    assert await names(search_client, q="perishables") == ["Depot Inventory"]
    ok(await search_client.patch(f"/api/tags/{tag_id}", json={"name": "fresh-goods"}))
    assert await names(search_client, q="fresh goods") == ["Depot Inventory"]
    element = await create_element(search_client, name="pallet_code")
    ok(
        await search_client.post(
            f"/api/data-products/{product['id']}/elements", json={"data_element_id": element["id"]}
        ),
        201,
    )
    assert await names(search_client, q="pallet") == ["Depot Inventory"]
    ok(
        await search_client.patch(
            f"/api/data-elements/{element['id']}",
            json={"definition": "Identifies a shipping container"},
        )
    )
    assert await names(search_client, q="container") == ["Depot Inventory"]
    ok(
        await search_client.post(
            f"/api/data-products/{product['id']}/versions", json={"version": "1.4.0"}
        ),
        201,
    )
    result = (await search(search_client, **{"q": "depot"}))["results"][0]
    assert result["latest_version"] == "1.4.0"
    assert result["tags"] == ["fresh-goods"]
    assert (await search_client.delete(f"/api/data-products/{product['id']}")).status_code == 204
    assert await names(search_client, q="depot") == []


async def test_concurrent_tagging_keeps_every_tag_in_the_document(
    search_client: AsyncClient,
) -> None:
    product = await create_product(search_client, name="Shared Doc")
    tag_ids = [
        ok(await search_client.post("/api/tags", json={"name": f"facet-{i}"}), 201)["id"]
        for i in range(8)
    ]
    answers = await asyncio.gather(
        *(
            search_client.post(f"/api/data-products/{product['id']}/tags", json={"tag_id": t})
            for t in tag_ids
        )
    )
    assert {a.status_code for a in answers} == {201}
    result = (await search(search_client, **{"q": "shared doc"}))["results"][0]
    assert sorted(result["tags"]) == sorted(f"facet-{i}" for i in range(8))


async def test_empty_query_lists_by_sort(
    search_client: AsyncClient, catalog: dict[str, dict[str, Any]]
) -> None:
    listed = await search(search_client, **{"sort_by": "name"})
    assert listed["total_count"] == 5
    assert listed["query"] == ""
    assert listed["results"][0]["name"] == "Customer 360"


@pytest.mark.parametrize(
    "hostile",
    [
        "'",
        "&",
        "|",
        "!",
        ":*",
        "\\",
        '"',
        "''; DROP TABLE data_products; --",
        "a & b | !c",
        "foo:* & bar",
        "(unclosed",
        "name:ledger",
        "ÉCHO",
        "   ",
        "%",
        "_",
        "NEAR(a b)",
        "*",
        '"customer"*',
        "customer OR 1=1",
    ],
)
async def test_metacharacters_never_break_search(
    search_client: AsyncClient, catalog: dict[str, dict[str, Any]], hostile: str
) -> None:
    answer = await search(search_client, **{"q": hostile})
    assert answer["total_count"] >= 0
    assert ok(await search_client.get("/api/data-products"))["total"] == 5  # nothing dropped
    ok(await search_client.get("/api/discover/suggest", params={"q": hostile.strip() or "x"}))


async def test_bad_search_parameters(search_client: AsyncClient) -> None:
    error_of(await search_client.get(SEARCH, params={"q": "x" * 201}), 422)
    await search(search_client, **{"q": "x" * 200})
    error_of(await search_client.get(SEARCH, params={"sort_by": "cleverness"}), 422)
    for params in (
        {"limit": -1},
        {"limit": 0},
        {"limit": 101},
        {"limit": 10**12},
        {"offset": -5},
        {"offset": 10_001},
        {"status": "lost"},
        {"limit": "ten"},
    ):
        error_of(await search_client.get(SEARCH, params=params), 422)
    error_of(await search_client.get(SEARCH + "?q=a%00b"), 400)
    error_of(await search_client.get("/api/discover/suggest"), 422)
    error_of(await search_client.get("/api/discover/suggest", params={"q": "y" * 101}), 422)


async def test_suggest_prefix_and_fuzzy_over_products_tags_and_elements(
    search_client: AsyncClient, catalog: dict[str, dict[str, Any]]
) -> None:
    async def suggest(text: str) -> list[tuple[str, str]]:
        await caught_up(search_client)
        answer = ok(await search_client.get("/api/discover/suggest", params={"q": text}))
        return [(s["kind"], s["text"]) for s in answer["suggestions"]]

    assert ("product", "General Ledger") in await suggest("gen")
    assert ("tag", "accounting") in await suggest("acc")
    assert ("element", "iban_number") in await suggest("iba")
    assert (await suggest("Custmer"))[0] == ("product", "Customer 360")  # typo
    assert await suggest("zzzq") == []


async def test_search_history_clicks_popular_and_recent(search_client: AsyncClient) -> None:
    product = await create_product(search_client, name="Churn Signals")
    first = await search(search_client, **{"q": "churn"})
    await search(search_client, **{"q": " Churn "})
    await search(search_client, **{"q": "signals"})
    clicked = ok(
        await search_client.post(
            f"{SEARCH}/{first['search_id']}/click", json={"product_id": product["id"]}
        ),
        202,
    )
    assert clicked["recorded"] is True

    async def popular() -> Any:
        items = ok(await search_client.get("/api/discover/popular-searches"))["items"]
        return items if items and items[0]["clicks"] == 1 else None

    items = await eventually(popular)
    assert items[0]["query"] == "churn"
    assert (items[0]["count"], items[0]["clicks"]) == (2, 1)
    recent = ok(await search_client.get("/api/discover/recent-searches"))
    assert [r["query"] for r in recent["items"]] == ["signals", " Churn "[1:-1], "churn"]
    assert recent["items"][2]["result_count"] == 1
    error_of(
        await search_client.post(f"{SEARCH}/not-an-id/click", json={"product_id": product["id"]}),
        422,
    )
    error_of(
        await search_client.post(
            f"{SEARCH}/{first['search_id']}/click", json={"product_id": "missing"}
        ),
        404,
    )


async def test_history_is_not_lost_under_concurrent_load(
    search_client: AsyncClient, database_url: str
) -> None:
    await create_product(search_client, name="Load Target")
    await caught_up(search_client)
    answers = await asyncio.gather(
        *(search_client.get(SEARCH, params={"q": f"load {i}"}) for i in range(60))
    )
    ids = {ok(a)["search_id"] for a in answers}

    async def stored() -> Any:
        rows = await query(database_url, "SELECT id FROM search_history")
        return {r.id for r in rows} if len(rows) >= 60 else None

    assert await eventually(stored) == ids


async def test_shutdown_drains_queued_history(
    make_settings: Callable[..., Any],
    open_client: Callable[[FastAPI], Awaitable[AsyncClient]],
    database_url: str,
) -> None:
    from httpx import ASGITransport

    app = create_app(make_settings(search_history_flush_interval_s=30))
    async with started(app) as manager:
        client = AsyncClient(transport=ASGITransport(app=manager.app), base_url="http://t")
        await caught_up(client)
        for i in range(25):
            ok(await client.get(SEARCH, params={"q": f"drain {i}"}))
        await client.aclose()
        assert await query(database_url, "SELECT id FROM search_history") == []  # still queued
    rows = await query(database_url, "SELECT query FROM search_history")
    assert sorted(r.query for r in rows) == sorted(f"drain {i}" for i in range(25))


async def test_click_before_its_search_is_written_still_merges(
    make_settings: Callable[..., Any],
    open_client: Callable[[FastAPI], Awaitable[AsyncClient]],
    database_url: str,
) -> None:
    from httpx import ASGITransport

    fast = await open_client(create_app(make_settings(search_history_flush_interval_s=0.05)))
    product = await create_product(fast, name="Replica Test")
    slow_app = create_app(make_settings(search_history_flush_interval_s=30))
    async with started(slow_app) as manager:  # replica A holds the search in its queue
        slow = AsyncClient(transport=ASGITransport(app=manager.app), base_url="http://a")
        await caught_up(slow)
        search = ok(await slow.get(SEARCH, params={"q": "replica"}))
        await slow.aclose()
        ok(
            await fast.post(
                f"{SEARCH}/{search['search_id']}/click", json={"product_id": product["id"]}
            ),
            202,
        )  # replica B writes first

        async def clicked_row() -> Any:
            return await query(
                database_url, "SELECT * FROM search_history WHERE id = :id", id=search["search_id"]
            )

        [early] = await eventually(clicked_row)
        assert (early.clicked, early.query) == (True, "")
    # replica A shuts down, drains its queue, and the search merges into the clicked row
    [merged] = await query(
        database_url, "SELECT * FROM search_history WHERE id = :id", id=search["search_id"]
    )
    assert (merged.query, merged.result_count, merged.clicked) == ("replica", 1, True)
    assert merged.clicked_product_id == product["id"]


async def test_retention_deletes_old_history(
    make_settings: Callable[..., Any],
    open_client: Callable[[FastAPI], Awaitable[AsyncClient]],
    database_url: str,
) -> None:
    long_ago = datetime(2000, 1, 1, tzinfo=UTC)
    await execute(
        database_url,
        "INSERT INTO search_history (id, query, filters, result_count, clicked, timestamp)"
        " VALUES ('old-search', 'ancient', '{}', 0, false, :ts)",
        ts=long_ago if "postgresql" in database_url else long_ago.replace(tzinfo=None),
    )
    await open_client(
        create_app(
            make_settings(search_history_retention_days=30, search_history_prune_interval_s=0.1)
        )
    )

    async def gone() -> bool:
        return not await query(
            database_url, "SELECT id FROM search_history WHERE id = 'old-search'"
        )

    assert await eventually(gone)


async def test_marketplace(search_client: AsyncClient, catalog: dict[str, dict[str, Any]]) -> None:
    ok(
        await search_client.post(
            f"/api/data-products/{catalog['customer']['id']}/versions", json={"version": "2.1.0"}
        ),
        201,
    )
    for user, rating in (("a", 5), ("b", 4)):
        ok(
            await search_client.post(
                f"/api/data-products/{catalog['customer']['id']}/usage",
                json={"event": "rating", "user_id": user, "rating": rating},
            ),
            201,
        )
    await caught_up(search_client, usage_since=datetime.now(UTC))
    market = ok(await search_client.get("/api/discover/marketplace", params={"sort_by": "rating"}))
    assert market["total"] == 3  # published only
    top = market["items"][0]
    assert top["name"] == "Customer 360"
    assert top["latest_version"] == "2.1.0"
    assert top["usage"]["average_rating"] == 4.5
    names_by = [
        i["name"]
        for i in ok(
            await search_client.get("/api/discover/marketplace", params={"sort_by": "name"})
        )["items"]
    ]
    assert names_by == sorted(names_by, key=str.lower)
    assert (
        ok(await search_client.get("/api/discover/marketplace", params={"team": "finance"}))[
            "total"
        ]
        == 2
    )
    error_of(await search_client.get("/api/discover/marketplace", params={"sort_by": "x"}), 422)
