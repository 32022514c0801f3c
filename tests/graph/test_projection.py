"""The change log and its projection into a real FalkorDB, through the HTTP surface and the
CLI: a graph outage delays the projection and loses nothing, in order; a failed write appends
nothing; a projection behind the retained log replays every node; `catalog graph rebuild`
gives the same graph as the incremental projection; `catalog graph init` is idempotent; the
graph metrics are emitted.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from httpx import ASGITransport, AsyncClient
from typer.testing import CliRunner, Result

from catalog.app import create_app
from catalog.cli import cli
from catalog.graph.cypher import Statement
from catalog.graph.falkordb_store import FalkorDBStore
from tests.conftest import base_settings
from tests.graph.test_graph_api import ends, feed, neighbours, settled, small_catalog
from tests.support.api import create_product, error_of, ok
from tests.support.db import query
from tests.support.lifespan import started
from tests.support.metrics import scrape, value
from tests.support.tcp_proxy import TcpProxy
from tests.support.wait import until

Opener = Any


def falkordb_settings(database_url: str, url: str, graph: str, **overrides: Any) -> Any:
    return base_settings(
        database_url,
        graph_store="falkordb",
        falkordb_url=url,
        falkordb_graph=graph,
        graph_outbox_interval_s=0.05,
        **overrides,
    )


async def wait_for_indexes(url: str, graph: str) -> None:
    """Until the app's background task has created the guide's indexes (bounded)."""
    store = FalkorDBStore(url, graph, max_connections=2, timeout_s=5.0)
    try:

        async def created() -> bool:
            return {("DataElement", "identifier"), ("Tag", "category")} <= await store.indexes()

        await until(created, "the guide's indexes being created", timeout_s=15)
    finally:
        await store.close()


async def outbox_rows(database_url: str) -> int:
    """Changes in the log the graph projection has not applied yet."""
    rows = await query(
        database_url,
        "SELECT count(*) FROM change_log WHERE id > coalesce("
        "(SELECT position FROM change_log_positions WHERE name = 'graph'), 0)",
    )
    return int(rows[0][0])


async def change_rows(database_url: str) -> int:
    return int((await query(database_url, "SELECT count(*) FROM change_log"))[0][0])


async def test_a_graph_outage_delays_the_projection_and_loses_nothing(
    database_url: str, falkordb_url: str, falkordb_graph: str, open_client: Opener
) -> None:
    port = int(falkordb_url.rsplit(":", 1)[1])
    proxy = TcpProxy("127.0.0.1", port)
    await proxy.up()
    settings = falkordb_settings(
        database_url, f"redis://127.0.0.1:{proxy.port}", falkordb_graph, graph_timeout_s=1.0
    )
    client: AsyncClient = await open_client(create_app(settings))
    made = await small_catalog(client)
    tag_id, ledger = made["tag"]["id"], made["product"]["id"]
    await settled(client)

    await proxy.down()  # the graph database is gone; the catalog keeps working
    late = await create_product(client, name="late-1")
    for name in ("late-2", "late-3"):  # the last write must win
        ok(await client.patch(f"/api/data-products/{late['id']}", json={"name": name}))
    ok(await client.post(f"/api/data-products/{late['id']}/tags", json={"tag_id": tag_id}), 201)
    ok(await client.delete(f"/api/data-products/{ledger}/tags/{tag_id}"), 204)
    await feed(client, late["id"], ledger)

    health = ok(await client.get("/healthz"))["graph"]
    assert health["pending"] >= 5, health
    assert await outbox_rows(database_url) >= 5
    unavailable = await client.get("/api/graph/neighbours", params={"node": f"Tag:{tag_id}"})
    error_of(unavailable, 503)
    assert int(unavailable.headers["retry-after"]) >= 1
    # The worker's round fails after its retries; the gauge is as of its last round.

    async def failure_counted() -> dict[tuple[str, frozenset[tuple[str, str]]], float] | None:
        samples = await scrape(client)
        failed = value(samples, "catalog_graph_projected_total", outcome="failed")
        return samples if failed >= 1 else None

    samples = await until(failure_counted, "the failed projection counted", timeout_s=20) or {}
    assert value(samples, "catalog_graph_outbox_pending") >= 1

    await proxy.up()
    await settled(client)
    assert await outbox_rows(database_url) == 0
    tagged = await neighbours(client, "Tag", tag_id, direction="in")
    assert ends(tagged) == {("HAS_TAG", "DataProduct", "late-3")}
    upstream = ok(
        await client.get(
            f"/api/data-products/{late['id']}/lineage", params={"direction": "upstream"}
        )
    )
    assert [n["name"] for n in upstream["nodes"]] == ["late-3", "ledger"]
    await proxy.down()


async def test_a_stopped_graph_server_catches_up_after_its_restart(
    database_url: str,
    falkordb_server: Any,
    falkordb_url: str,
    falkordb_graph: str,
    open_client: Opener,
) -> None:
    settings = falkordb_settings(database_url, falkordb_url, falkordb_graph, graph_timeout_s=1.0)
    client: AsyncClient = await open_client(create_app(settings))
    made = await small_catalog(client)
    await settled(client)

    falkordb_server.stop()
    try:
        renamed = ok(
            await client.patch(f"/api/data-products/{made['product']['id']}", json={"name": "v2"})
        )
        assert renamed["name"] == "v2"
        extra = await create_product(client, name="while-down")
        await feed(client, extra["id"], made["product"]["id"])
        assert ok(await client.get("/healthz"))["graph"]["pending"] >= 2
    finally:
        falkordb_server.start()
    await settled(client)
    down = ok(
        await client.get(
            f"/api/data-products/{made['product']['id']}/lineage",
            params={"direction": "downstream"},
        )
    )
    assert [n["name"] for n in down["nodes"]] == ["v2", "while-down"]
    tagged = await neighbours(client, "Tag", made["tag"]["id"], direction="in")
    assert ends(tagged) == {("HAS_TAG", "DataProduct", "v2")}


async def test_a_graph_down_at_start_holds_nothing_up(
    database_url: str, falkordb_url: str, falkordb_graph: str, open_client: Opener
) -> None:
    """The service starts, is ready and takes writes; the indexes and the projection follow
    when the graph database appears."""
    proxy = TcpProxy("127.0.0.1", int(falkordb_url.rsplit(":", 1)[1]))  # not up yet
    settings = falkordb_settings(
        database_url, f"redis://127.0.0.1:{proxy.port}", falkordb_graph, graph_timeout_s=1.0
    )
    client: AsyncClient = await open_client(create_app(settings))
    ok(await client.get("/readyz"))  # the graph database is not a readiness dependency
    product = await create_product(client, name="early")
    await proxy.up()
    try:
        await settled(client)
        answer = await neighbours(client, "DataProduct", product["id"])
        assert answer["node"]["name"] == "early"
        await wait_for_indexes(falkordb_url, falkordb_graph)
    finally:
        await proxy.down()


async def test_a_failed_write_appends_nothing(
    database_url: str, falkordb_url: str, falkordb_graph: str, open_client: Opener
) -> None:
    client = await open_client(
        create_app(falkordb_settings(database_url, falkordb_url, falkordb_graph))
    )
    await create_product(client, name="taken")
    await settled(client)
    before = await change_rows(database_url)
    body = {"name": "taken", "team": "t", "category": "c", "owner": "o"}
    error_of(await client.post("/api/data-products", json=body), 409)
    assert await change_rows(database_url) == before
    assert await outbox_rows(database_url) == 0


async def test_the_sql_store_projects_nothing(database_url: str, open_client: Opener) -> None:
    """The change log is written for search either way; only a projected store follows it."""
    client = await open_client(create_app(base_settings(database_url)))
    await small_catalog(client)
    assert await change_rows(database_url) > 0
    positions = await query(database_url, "SELECT name FROM change_log_positions")
    assert "graph" not in {row.name for row in positions}  # (notifications keep theirs there)
    graph = ok(await client.get("/healthz"))["graph"]
    assert graph == {"store": "sql", "projected": False}


def cli_env(database_url: str, url: str, graph: str) -> dict[str, str]:
    return {
        "CATALOG_DATABASE_URL": database_url,
        "CATALOG_GRAPH_STORE": "falkordb",
        "CATALOG_FALKORDB_URL": url,
        "CATALOG_FALKORDB_GRAPH": graph,
    }


def run_cli(*args: str, env: dict[str, str]) -> Result:
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


async def dump(url: str, graph: str) -> tuple[list[str], list[str]]:
    """Every node and relationship of the graph, as sorted JSON lines."""
    store = FalkorDBStore(url, graph, max_connections=2, timeout_s=5.0)
    try:
        nodes, edges = await store._run(
            "dump",
            [
                Statement("MATCH (n) RETURN labels(n)[0], properties(n)"),
                Statement("MATCH (a)-[r]->(b) RETURN type(r), a.id, b.id, properties(r)"),
            ],
        )
    finally:
        await store.close()
    return (
        sorted(json.dumps(row, sort_keys=True) for row in nodes),
        sorted(json.dumps(row, sort_keys=True) for row in edges),
    )


async def test_rebuild_equals_the_incremental_projection(
    database_url: str, falkordb_url: str, falkordb_graph: str, open_client: Opener
) -> None:
    client = await open_client(
        create_app(falkordb_settings(database_url, falkordb_url, falkordb_graph))
    )
    made = await small_catalog(client)
    other = await create_product(client, name="downstream")
    await feed(client, other["id"], made["product"]["id"])
    await feed(client, other["id"], made["element"]["id"], "element")
    ok(await client.patch(f"/api/data-products/{other['id']}", json={"description": "changed"}))
    await settled(client)
    incremental = await dump(falkordb_url, falkordb_graph)
    nodes, edges = incremental
    assert len(nodes) == 8  # 2 products, 2 tags, version, element, concept, value domain
    assert len(edges) == 8
    assert not any("_placeholder" in line for line in nodes)

    # Damage the projection, then rebuild it from the catalog tables.
    store = FalkorDBStore(falkordb_url, falkordb_graph, max_connections=2, timeout_s=5.0)
    await store.delete([*(await _some_refs(store))])
    await store.close()
    assert await dump(falkordb_url, falkordb_graph) != incremental
    env = cli_env(database_url, falkordb_url, falkordb_graph)
    rebuilt = await asyncio.to_thread(run_cli, "graph", "rebuild", env=env)
    assert rebuilt.exit_code == 0, rebuilt.output
    assert "rebuilt 8 node(s) into falkordb" in rebuilt.output
    assert await dump(falkordb_url, falkordb_graph) == incremental


async def _some_refs(store: FalkorDBStore) -> list[Any]:
    from catalog.graph.model import NodeRef

    [rows] = await store._run("dump", [Statement("MATCH (n:DataProduct) RETURN n.id")])
    return [NodeRef("DataProduct", row[0]) for row in rows]


async def test_graph_init_creates_the_guide_indexes_once(
    database_url: str, falkordb_url: str, falkordb_graph: str
) -> None:
    env = cli_env(database_url, falkordb_url, falkordb_graph)
    first = await asyncio.to_thread(run_cli, "graph", "init", env=env)
    assert first.exit_code == 0, first.output
    for expected in (
        "CREATE INDEX FOR (n:DataElement) ON (n.identifier)",
        "CREATE INDEX FOR (n:DataElement) ON (n.name)",
        "CREATE INDEX FOR (n:DataProduct) ON (n.id)",
        "CREATE INDEX FOR (n:Tag) ON (n.name)",
        "CREATE INDEX FOR (n:Tag) ON (n.category)",
        "CREATE INDEX FOR ()-[r:HAS_TAG]-() ON (r.timestamp)",
        "CREATE INDEX FOR ()-[r:HAS_VERSION]-() ON (r.timestamp)",
    ):
        assert expected in first.output
    again = await asyncio.to_thread(run_cli, "graph", "init", env=env)
    assert again.exit_code == 0, again.output
    assert "0 index(es) created" in again.output
    status = await asyncio.to_thread(run_cli, "graph", "status", "--json", env=env)
    assert json.loads(status.output) | {"lag_s": 0} == {
        "store": "falkordb",
        "position": 0,
        "pending": 0,
        "lag_s": 0,
        "breaker": "closed",
        "projected": True,
        "reachable": True,
    }


async def test_graph_commands_report_an_unreachable_graph(database_url: str) -> None:
    from tests.support.servers import free_port

    env = cli_env(database_url, f"redis://127.0.0.1:{free_port()}", "catalog")
    env["CATALOG_GRAPH_TIMEOUT_S"] = "1"
    started = time.monotonic()
    result = await asyncio.to_thread(run_cli, "graph", "init", env=env)
    assert result.exit_code == 1
    assert "graph database unavailable" in result.output
    assert time.monotonic() - started < 10
    status = await asyncio.to_thread(run_cli, "graph", "status", "--json", env=env)
    assert status.exit_code == 0, status.output  # the outbox is in the catalog: still known
    assert json.loads(status.output) | {"lag_s": 0} == {
        "store": "falkordb",
        "position": 0,
        "pending": 0,
        "lag_s": 0,
        "breaker": "closed",
        "projected": True,
        "reachable": False,
    }


async def test_the_app_creates_indexes_at_start_and_emits_graph_metrics(
    database_url: str, falkordb_url: str, falkordb_graph: str, open_client: Opener
) -> None:
    client = await open_client(
        create_app(
            falkordb_settings(database_url, falkordb_url, falkordb_graph, neo4j_max_connections=7)
        )
    )
    made = await small_catalog(client)
    await neighbours(client, "DataProduct", made["product"]["id"])
    samples = await scrape(client)  # before another store in this process sets the gauges
    for query_type in ("upsert", "step", "names"):
        assert (
            value(
                samples,
                "catalog_neo4j_query_duration_seconds_count",
                query_type=query_type,
                status="ok",
            )
            >= 1
        ), query_type
    assert value(samples, "catalog_neo4j_connection_pool_size", state="max") == 7
    assert value(samples, "catalog_graph_projected_total", outcome="projected") >= 8
    await wait_for_indexes(falkordb_url, falkordb_graph)
    health = ok(await client.get("/healthz"))
    assert health["graph"]["store"] == "falkordb"
    assert health["circuit_breakers"]["graph"]["state"] == "closed"


async def test_a_projection_behind_the_retained_log_replays_every_node(
    database_url: str, falkordb_url: str, falkordb_graph: str, open_client: Opener
) -> None:
    """Changes the graph never saw were pruned (an outage longer than the retention): the
    worker notices its position below the prune horizon and replays the whole catalog."""
    from datetime import UTC, datetime, timedelta

    from catalog.changes.repository import ChangeLogRepository
    from catalog.db.engine import WRITE, create_engine, session_factory

    projected = falkordb_settings(database_url, falkordb_url, falkordb_graph)
    async with started(create_app(projected)) as manager:
        first = AsyncClient(transport=ASGITransport(app=manager.app), base_url="http://a")
        made = await small_catalog(first)
        await settled(first)
        await first.aclose()
    # Written while nothing projects (the sql store), then pruned away.
    writer = await open_client(create_app(base_settings(database_url)))
    unseen = await create_product(writer, name="written-while-the-graph-was-away")
    await create_product(writer, name="and-another")  # the prune always keeps the newest row
    engine = create_engine(base_settings(database_url))
    async with session_factory(engine.execution_options(**WRITE))() as session:
        log = ChangeLogRepository(session)
        assert await log.prune(datetime.now(UTC) + timedelta(days=1)) > 0
        horizon = await log.horizon()
        await session.commit()
    await engine.dispose()
    assert (
        await query(database_url, "SELECT position FROM change_log_positions WHERE name = 'graph'")
    )[0][0] < horizon

    client = await open_client(create_app(projected))
    await settled(client)
    answer = await neighbours(client, "DataProduct", unseen["id"])
    assert answer["node"]["name"] == "written-while-the-graph-was-away"
    tagged = await neighbours(client, "Tag", made["tag"]["id"], direction="in")
    assert ("HAS_TAG", "DataProduct", "ledger") in ends(tagged)
    [[position]] = await query(
        database_url, "SELECT position FROM change_log_positions WHERE name = 'graph'"
    )
    assert position >= horizon
