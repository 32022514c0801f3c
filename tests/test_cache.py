"""The response cache, through HTTP: served from the cache, invalidated by writes on any
replica, one database read for a stampede, Redis outages bypassed, metrics per cache."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from httpx import ASGITransport, AsyncClient
from sqlalchemy import event, make_url

from catalog.app import create_app
from catalog.cache.core import Cache
from catalog.server.resources import Resources
from catalog.settings import Settings
from tests.conftest import base_settings, search_index_built
from tests.support.api import create_element, create_product, ok, unique
from tests.support.clock import ManualClock
from tests.support.lifespan import resources_of as lifespan_resources
from tests.support.lifespan import started
from tests.support.metrics import scrape, value
from tests.support.search import by_search_writer, caught_up
from tests.support.tcp_proxy import TcpProxy
from tests.support.wait import until
from tests.test_auth import TOKENS, bearer, write_tokens


class Replica:
    """One running app: its HTTP client, its resources, and a count of the SQL statements its
    requests run (the search index writer's own reads, in the background, are not counted)."""

    def __init__(self, client: AsyncClient, resources: Resources) -> None:
        self.client = client
        self.resources = resources
        self.statements: list[str] = []
        event.listen(resources.engine.sync_engine, "before_cursor_execute", self._seen)

    def _seen(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not by_search_writer():  # not the search index's own reads
            self.statements.append(statement)

    def reads_of(self, table: str) -> int:
        return sum(
            1 for s in self.statements if s.lstrip().upper().startswith("SELECT") and table in s
        )

    @property
    def cache(self) -> Cache:
        return self.resources.cache


@asynccontextmanager
async def replicas(
    *all_settings: Settings, clock: ManualClock | None = None
) -> AsyncIterator[list[Replica]]:
    async with AsyncExitStack() as stack:
        running = []
        for settings in all_settings:
            app = create_app(settings, clock=clock)
            manager = await stack.enter_async_context(started(app))
            client = await stack.enter_async_context(
                AsyncClient(transport=ASGITransport(app=manager.app), base_url="http://t")
            )
            await search_index_built(lifespan_resources(manager))
            running.append(Replica(client, lifespan_resources(manager)))
        yield running


def without_search_id(answers: dict[str, Any]) -> dict[str, Any]:
    return answers | {"search": {k: v for k, v in answers["search"].items() if k != "search_id"}}


async def cache_metric(client: AsyncClient, name: str, cache: str, **labels: str) -> float:
    return value(await scrape(client), f"catalog_cache_{name}_total", cache=cache, **labels)


# --- one process, in-process cache --------------------------------------------------------


async def test_a_product_is_served_from_the_cache_until_it_changes(database_url: str) -> None:
    async with replicas(base_settings(database_url)) as [one]:
        assert one.cache.backend is not None
        assert one.cache.backend.name == "memory"
        product = await create_product(one.client)
        path = f"/api/data-products/{product['id']}"
        first = ok(await one.client.get(path))
        reads = one.reads_of("data_products")
        hits = await cache_metric(one.client, "hits", "product")
        assert ok(await one.client.get(path)) == first
        assert one.reads_of("data_products") == reads  # no SQL at all for the second read
        assert await cache_metric(one.client, "hits", "product") == hits + 1

        ok(await one.client.patch(path, json={"description": "changed"}))
        assert ok(await one.client.get(path))["description"] == "changed"
        ok(await one.client.delete(path), 204)
        assert (await one.client.get(path)).status_code == 404


async def test_an_entry_expires_after_its_ttl_on_the_app_clock(database_url: str) -> None:
    clock = ManualClock()
    async with replicas(base_settings(database_url), clock=clock) as [one]:
        product = await create_product(one.client)
        path = f"/api/data-products/{product['id']}"
        ok(await one.client.get(path))
        hits = await cache_metric(one.client, "hits", "product")
        ok(await one.client.get(path))
        assert await cache_metric(one.client, "hits", "product") == hits + 1
        clock.advance(one.cache.ttl_s - 1)
        ok(await one.client.get(path))
        assert await cache_metric(one.client, "hits", "product") == hits + 2  # not yet
        clock.advance(2)
        misses = await cache_metric(one.client, "misses", "product")
        ok(await one.client.get(path))
        assert await cache_metric(one.client, "hits", "product") == hits + 2  # expired
        assert await cache_metric(one.client, "misses", "product") == misses + 1


async def test_every_cached_read_follows_the_writes_that_change_it(database_url: str) -> None:
    """Element, tag tree, marketplace, search and suggestions, each read before and after."""
    async with replicas(base_settings(database_url)) as [one]:
        c = one.client
        name = unique("zebrafish")
        product = await create_product(c, name=name)
        pid = product["id"]
        element = await create_element(c)
        element_path = f"/api/data-elements/{element['id']}"

        async def everything() -> dict[str, Any]:
            await caught_up(c)  # search, suggestions and the marketplace follow the index
            return {
                "element": ok(await c.get(element_path)),
                "tree": ok(await c.get("/api/tags", params={"tree": "true"})),
                "market": ok(await c.get("/api/discover/marketplace", params={"limit": 500})),
                "search": ok(await c.get("/api/discover/search", params={"q": name})),
                "suggest": ok(await c.get("/api/discover/suggest", params={"q": name[:12]})),
            }

        before = await everything()
        hits = value(await scrape(c), "catalog_cache_hits_total", cache="search")
        assert without_search_id(await everything()) == without_search_id(before)
        assert value(await scrape(c), "catalog_cache_hits_total", cache="search") == hits + 1
        assert before["search"]["total_count"] == 1
        assert before["market"]["total"] == 0

        ok(await c.patch(element_path, json={"definition": "A new definition"}))
        tag = ok(await c.post("/api/tags", json={"name": unique("tag")}), 201)
        ok(await c.post(f"/api/data-products/{pid}/tags", json={"tag_id": tag["id"]}), 201)
        ok(await c.patch(f"/api/data-products/{pid}", json={"status": "published"}))
        ok(await c.patch(f"/api/data-products/{pid}", json={"name": name + " renamed"}))

        after = await everything()
        assert after["element"]["definition"] == "A new definition"
        assert tag["name"] in [node["name"] for node in after["tree"]["items"]]
        assert [item["id"] for item in after["market"]["items"]] == [pid]
        assert after["search"]["results"][0]["name"] == name + " renamed"
        assert after["search"]["results"][0]["tags"] == [tag["name"]]
        assert [s["text"] for s in after["suggest"]["suggestions"]] == [name + " renamed"]


async def test_quality_measurements_refresh_the_cached_element(database_url: str) -> None:
    async with replicas(base_settings(database_url)) as [one]:
        element = await create_element(one.client)
        path = f"/api/data-elements/{element['id']}"
        assert ok(await one.client.get(path))["quality_score"] is None
        scores = {"completeness": 1, "accuracy": 1, "consistency": 1, "timeliness": 1}
        ok(await one.client.post(path + "/quality", json=scores), 201)
        assert ok(await one.client.get(path))["quality_score"] == 1.0


async def test_listings_show_usage_once_the_index_folds_it(database_url: str) -> None:
    """Views and ratings reach the marketplace (and search) through the index's usage fold;
    a cached listing never outlives the index version it was computed from."""
    settings = base_settings(database_url, search_usage_interval_s=0.05)
    async with replicas(settings) as [one]:
        c = one.client
        product = await create_product(c)
        ok(await c.patch(f"/api/data-products/{product['id']}", json={"status": "published"}))
        usage = f"/api/data-products/{product['id']}/usage"

        async def listed() -> dict[str, Any]:
            page = ok(await c.get("/api/discover/marketplace", params={"limit": 500}))
            [item] = [i for i in page["items"] if i["id"] == product["id"]]
            return item["usage"]  # type: ignore[no-any-return]

        await caught_up(c)
        assert (await listed())["views"] == 0
        assert (await listed())["views"] == 0  # the second from the cache
        ok(await c.post(usage, json={"event": "view"}), 201)
        ok(await c.post(usage, json={"event": "rating", "user_id": "ann", "rating": 4}), 201)
        await caught_up(c, usage_since=datetime.now(UTC))
        assert await listed() == (await listed()) | {"views": 1, "rating_count": 1}


async def test_a_restricted_product_stays_hidden_when_cached(
    database_url: str, tmp_path: Path
) -> None:
    """The cached answer is shared; who may see it is checked on every read."""
    tokens = write_tokens(tmp_path / "tokens", TOKENS)
    settings = base_settings(database_url, enable_auth=True, auth_tokens_file=tokens)
    async with replicas(settings) as [one]:
        product = await create_product(
            one.client, headers=bearer("editor"), team="risk", visibility="restricted"
        )
        path = f"/api/data-products/{product['id']}"
        ok(await one.client.get(path, headers=bearer("viewer2")))  # the risk team
        hits = await cache_metric(one.client, "hits", "product")
        ok(await one.client.get(path, headers=bearer("viewer2")))  # now from the cache
        assert await cache_metric(one.client, "hits", "product") == hits + 1
        assert (await one.client.get(path, headers=bearer("viewer"))).status_code == 404


async def test_a_stampede_of_misses_reads_the_database_once(database_url: str) -> None:
    async with replicas(base_settings(database_url)) as [one]:
        product = await create_product(one.client)
        path = f"/api/data-products/{product['id']}"
        ok(await one.client.patch(path, json={"description": "cold again"}))
        reads = one.reads_of("data_products")
        answers = await asyncio.gather(*(one.client.get(path) for _ in range(100)))
        assert {a.status_code for a in answers} == {200}
        assert len({a.content for a in answers}) == 1
        assert one.reads_of("data_products") - reads == 1
        assert await cache_metric(one.client, "coalesced", "product") >= 1


async def test_the_in_process_cache_is_bounded_and_counts_evictions(sqlite_url: str) -> None:
    async with replicas(base_settings(sqlite_url, cache_max_bytes=4096)) as [one]:
        products = [await create_product(one.client) for _ in range(12)]
        evicted = await cache_metric(one.client, "evictions", "product")
        for product in products:
            ok(await one.client.get(f"/api/data-products/{product['id']}"))
        assert one.cache.backend is not None
        assert one.cache.backend.bytes_used <= 4096  # type: ignore[attr-defined]
        assert await cache_metric(one.client, "evictions", "product") >= evicted + 4  # ~550 B each


async def test_the_cache_is_off_for_several_workers_without_redis(sqlite_url: str) -> None:
    async with replicas(base_settings(sqlite_url, workers=2)) as [one]:
        assert not one.cache.enabled
        product = await create_product(one.client)
        path = f"/api/data-products/{product['id']}"
        hits = await cache_metric(one.client, "hits", "product")
        ok(await one.client.get(path))
        ok(await one.client.get(path))
        assert await cache_metric(one.client, "hits", "product") == hits


async def test_early_refresh_grows_likelier_near_expiry() -> None:
    cache = Cache(None, ttl_s=60, list_ttl_s=30, timeout_s=0.05)

    def refreshed(seconds_left: float, load_s: float) -> int:
        return sum(cache.refresh_early(time.time() + seconds_left, load_s) for _ in range(2000))

    assert refreshed(60, 0.01) == 0
    # One load time before expiry, P(refresh) = P(-ln U >= 1) = 1/e: about 736 of 2000.
    assert 600 < refreshed(0.1, 0.1) < 900
    assert refreshed(-1, 0.1) == 2000  # expired: always
    assert refreshed(0.001, 0.0) == 0  # unknown load time: never early


# --- replicas sharing Redis -----------------------------------------------------------------


def shared(database_url: str, redis_url: str, **overrides: Any) -> Settings:
    return base_settings(database_url, redis_url=redis_url, **overrides)


async def test_a_write_on_one_replica_is_seen_by_the_other_at_once(
    database_url: str, redis_url: str
) -> None:
    settings = shared(database_url, redis_url)
    async with replicas(settings, settings) as [a, b]:
        assert b.cache.backend is not None
        assert b.cache.backend.name == "redis"
        name = unique("okapi")
        product = await create_product(a.client, name=name)
        path = f"/api/data-products/{product['id']}"
        search = {"q": name}
        await caught_up(b.client)
        ok(await b.client.get(path))
        ok(await b.client.get("/api/discover/search", params=search))
        hits = await cache_metric(a.client, "hits", "product")
        ok(await a.client.get(path))  # a reads what b cached: a hit across replicas
        assert await cache_metric(a.client, "hits", "product") == hits + 1

        ok(await a.client.patch(path, json={"description": "edited on a"}))
        assert ok(await b.client.get(path))["description"] == "edited on a"
        ok(await a.client.patch(path, json={"name": name + " two"}))
        await caught_up(b.client)  # b's search index follows the change log
        found = ok(await b.client.get("/api/discover/search", params=search))
        assert [r["name"] for r in found["results"]] == [name + " two"]


async def test_redis_stampede_reads_the_database_once(database_url: str, redis_url: str) -> None:
    # A generous Redis timeout: on a loaded 2-core machine, 100 requests in one event loop
    # can push a healthy Redis call past the default 250 ms; timeouts are tested below.
    settings = shared(database_url, redis_url, cache_redis_timeout_ms=10_000)
    async with replicas(settings) as [one]:
        product = await create_product(one.client)
        path = f"/api/data-products/{product['id']}"
        reads = one.reads_of("data_products")
        answers = await asyncio.gather(*(one.client.get(path) for _ in range(100)))
        assert {a.status_code for a in answers} == {200}
        assert one.reads_of("data_products") - reads == 1


@pytest.fixture
async def redis_proxy(redis_url: str) -> AsyncIterator[tuple[TcpProxy, str]]:
    real = make_url(redis_url)
    proxy = TcpProxy(real.host or "127.0.0.1", real.port or 6379)
    await proxy.up()
    yield proxy, f"redis://127.0.0.1:{proxy.port}/{real.database}"
    await proxy.down()


async def test_redis_down_bypasses_to_the_database_and_comes_back(
    sqlite_url: str, redis_url: str, redis_proxy: tuple[TcpProxy, str]
) -> None:
    proxy, through_proxy = redis_proxy
    healthy = shared(sqlite_url, redis_url)
    flaky = shared(sqlite_url, through_proxy, dependency_timeout_s=0.5)
    async with replicas(flaky, healthy) as [a, b]:
        product = await create_product(a.client)
        path = f"/api/data-products/{product['id']}"
        ok(await a.client.get(path))
        ok(await b.client.get(path))  # cached in Redis

        assert a.cache.breaker is not None
        a.cache.breaker.open_s = 0.5  # the real breaker, quicker to try again for the test
        await proxy.down()
        for _ in range(3):
            assert ok(await a.client.get(path))["id"] == product["id"]  # never a 5xx
        samples = await scrape(a.client)
        reasons = {
            dict(labels)["reason"]
            for (name, labels), count in samples.items()
            if name == "catalog_cache_bypass_total" and count > 0
        }
        assert reasons & {"redis_error", "timeout", "circuit_open"}

        # A write on the replica that cannot reach Redis: b must not serve the old entry
        # once a can tell Redis again, and a itself never serves it meanwhile.
        ok(await a.client.patch(path, json={"description": "written during the outage"}))
        assert ok(await a.client.get(path))["description"] == "written during the outage"
        # remembered, retried every second (the health answer below shows how many)
        health = ok(await a.client.get("/healthz"))
        assert health["cache"] == {"backend": "redis", "pending_invalidations": 1}  # product:<id>
        assert "redis_cache" in health["circuit_breakers"]  # (this process has two apps)
        assert a.cache.breaker.snapshot()["state"] in {"open", "half_open"}

        await proxy.up()

        async def retired() -> bool:
            return a.cache.describe()["pending_invalidations"] == 0

        await until(retired, "the invalidations kept during the outage being sent")
        assert ok(await a.client.get("/healthz"))["cache"]["pending_invalidations"] == 0
        assert ok(await b.client.get(path))["description"] == "written during the outage"
        ok(await a.client.get(path))
        hits = await cache_metric(a.client, "hits", "product")
        ok(await a.client.get(path))
        assert await cache_metric(a.client, "hits", "product") == hits + 1  # caching again


async def test_cache_settings_are_validated() -> None:
    with pytest.raises(ValueError, match=r"cache_list_ttl_s|CATALOG_CACHE_LIST_TTL_S"):
        Settings(cache_list_ttl_s=0)
