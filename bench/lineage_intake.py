"""OpenLineage intake throughput and the column-lineage walk, under wrk, as shipped.

    .venv/bin/python -m bench.lineage_intake [--duration 15] [--rounds 3]

`catalog serve --workers 2` on a scratch PostgreSQL database, auth on (an editor's work is
an admin token here), rate limits on far above the load, LOG_LEVEL=info, in one run:

- **intake**: wrk POSTs OpenLineage COMPLETE RunEvents to `/api/v1/lineage` with 16
  connections, each event a distinct run of one of 200 jobs reading two of 400 tables and
  writing a third, with a 12-column schema facet and a columnLineage facet (as a Spark or
  dbt integration sends them). Two mixes: *steady* (the datasets, schemas and edges exist:
  what a catalog sees every day; each event is kept and changes nothing else) and *first
  sight* (every event names new tables: products, schemas, elements, edges are made);
  against the same stack's cheapest write, `POST /api/data-products` (the ceiling a write
  through this stack has here). The intake keeps an event and answers; the applier applies
  it in the background, so each mix also reports how long the applier took to catch up
  after the load and the rate events were applied at over load + catch-up.
- **column-lineage walk**: 100,000 column edges over 10 layers of 100 products x 100
  columns (each column computed from one or two columns of the layer before), then
  `GET .../schema/columns/{c}/lineage?direction=upstream&depth=5` from columns of the last
  layer, with 1 and 16 connections.

Targets (issue 17): intake >= 500 events/s with 2 workers on PostgreSQL; the column-lineage
walk of depth 5 over 100k column edges p95 <= 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import tempfile
import time
import uuid
from typing import Any

import asyncpg
import httpx
from sqlalchemy import make_url

from bench.search_latency import DONE_LUA, run_wrk
from bench.support import PLENTY, SHIPPED_ENV, save, scratch_postgres, serving, token_file

PORT = 18141
JOBS = 200
TABLES = 400
COLUMNS = 12
LAYERS, PER_LAYER, WIDTH = 10, 100, 100
PRODUCER = "https://github.com/OpenLineage/OpenLineage/tree/1.24.2/integration/spark"

# Each wrk thread has its own Lua state: thread i of n sends bodies i, i+n, i+2n... so no
# two threads send the same body (a product name twice is a 409, not a write).
POST_LUA = (
    """
local threads = 0
setup = function(thread) thread:set("id", threads); threads = threads + 1 end
bodies = {}
for line in io.lines("%s") do bodies[#bodies + 1] = line end
counter = 0
request = function()
  counter = counter + 1
  return wrk.format("POST", "%s", {["Authorization"] = "Bearer %s",
    ["Content-Type"] = "application/json"}, bodies[((counter * 2 + id) %% #bodies) + 1])
end
"""
    + DONE_LUA
)


def facet(name: str, body: dict[str, Any]) -> dict[str, Any]:
    url = f"https://openlineage.io/spec/facets/1-0-1/{name}.json#/$defs/{name}"
    return {"_producer": PRODUCER, "_schemaURL": url, **body}


def dataset(host: str, table: int, schema: bool = False, sources: tuple[int, ...] = ()) -> Any:
    found: dict[str, Any] = {
        "namespace": f"postgres://{host}:5432",
        "name": f"shop.public.t{table}",
    }
    if schema:
        fields = [
            {"name": f"c{i}", "type": "numeric(12,2)" if i % 3 else "bigint"}
            for i in range(COLUMNS)
        ]
        lineage = {
            f"c{i}": {
                "inputFields": [
                    {
                        "namespace": found["namespace"],
                        "name": f"shop.public.t{s}",
                        "field": f"c{i}",
                        "transformations": [{"type": "DIRECT", "subtype": "IDENTITY"}],
                    }
                    for s in sources
                ]
            }
            for i in range(COLUMNS)
        }
        found["facets"] = {
            "schema": facet("SchemaDatasetFacet", {"fields": fields}),
            "columnLineage": facet("ColumnLineageDatasetFacet", {"fields": lineage}),
        }
    return found


def run_event(host: str, job: int, inputs: tuple[int, int], output: int) -> dict[str, Any]:
    return {
        "eventType": "COMPLETE",
        "eventTime": "2026-12-04T10:00:00.000Z",
        "producer": PRODUCER,
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": str(uuid.uuid4())},
        "job": {"namespace": "spark", "name": f"job_{job}"},
        "inputs": [dataset(host, t) for t in inputs],
        "outputs": [dataset(host, output, schema=True, sources=inputs)],
    }


def steady_events(host: str, count: int) -> list[dict[str, Any]]:
    """Events of JOBS jobs over TABLES tables: after one pass, nothing new."""
    rng = random.Random(7)
    plan = []
    for job in range(JOBS):
        output = TABLES // 2 + job  # the upper half written, the lower half read
        plan.append((job, (rng.randrange(TABLES // 2), rng.randrange(TABLES // 2)), output))
    return [run_event(host, *plan[i % JOBS]) for i in range(count)]


def first_sight_events(host: str, count: int) -> list[dict[str, Any]]:
    return [run_event(host, i, (3 * i, 3 * i + 1), 3 * i + 2) for i in range(count)]


def post_all(base: str, token: str, events: list[dict[str, Any]]) -> None:
    headers = {"authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
        for event in events:
            client.post("/api/v1/lineage", json=event).raise_for_status()


def wrk_post(
    base: str, path: str, token: str, bodies: list[str], duration: int
) -> dict[str, float]:
    """wrk POSTing `bodies` (each once per pass, never two threads the same one) to `path`."""
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as data:
        data.write("\n".join(bodies) + "\n")
    return run_wrk(base, [], duration, token, lua=POST_LUA % (data.name, path, token))


async def seed_column_edges(url: str, base: str, token: str) -> list[tuple[str, str]]:
    """LAYERS x PER_LAYER products (through the API), WIDTH columns each (schema rows and
    column edges inserted directly: the walk reads them, how they came is not measured)."""
    headers = {"authorization": f"Bearer {token}"}
    ids: list[list[str]] = []
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=120) as client:
        for layer in range(LAYERS):
            items = [
                {
                    "name": f"layer{layer}_p{p}",
                    "team": "bench",
                    "category": "dataset",
                    "owner": "bench",
                }
                for p in range(PER_LAYER)
            ]
            answer = await client.post("/api/data-products/bulk", json={"items": items})
            answer.raise_for_status()
            ids.append([r["id"] for r in answer.json()["results"]])
    parsed = make_url(url)
    connection = await asyncpg.connect(
        host=parsed.host, port=parsed.port, user=parsed.username, database=parsed.database
    )
    rng = random.Random(11)
    columns, edges = [], []
    for layer, products in enumerate(ids):
        for product in products:
            for c in range(WIDTH):
                columns.append(
                    (str(uuid.uuid4()), product, c, f"c{c}", "bigint", True, False, "", "[]")
                )
                if layer:
                    for source in rng.sample(ids[layer - 1], 1 + (rng.random() < 0.05)):
                        edges.append(
                            (
                                str(uuid.uuid4()),
                                source,
                                f"c{rng.randrange(WIDTH)}",
                                product,
                                f"c{c}",
                                "DIRECT/IDENTITY",
                            )
                        )
    try:
        await connection.copy_records_to_table(
            "product_schema_columns",
            records=columns,
            columns=[
                "id",
                "product_id",
                "position",
                "name",
                "physical_type",
                "nullable",
                "primary_key",
                "description",
                "tags",
            ],
        )
        await connection.copy_records_to_table(
            "column_lineage_edges",
            records=edges,
            columns=[
                "id",
                "upstream_product_id",
                "upstream_column",
                "downstream_product_id",
                "downstream_column",
                "transformation",
            ],
        )
        await connection.execute("ANALYZE column_lineage_edges")
    finally:
        await connection.close()
    print(f"seeded {len(columns)} columns, {len(edges)} column edges")
    return [(product, f"c{c}") for product in ids[-1] for c in range(0, WIDTH, 10)]


def walk_paths(starts: list[tuple[str, str]], direction: str) -> list[str]:
    return [
        f"/api/data-products/{p}/schema/columns/{c}/lineage?direction={direction}&depth=5"
        for p, c in starts
    ]


def drained(base: str, token: str, received: int, duration: int) -> dict[str, float]:
    """Wait until the applier has applied every kept event; how long after the load that took
    and the rate events were applied at over the whole run (load + catch-up)."""
    headers = {"authorization": f"Bearer {token}"}
    started = time.monotonic()
    while True:
        waiting = httpx.get(
            f"{base}/api/v1/events/lineage",
            params={"applied": "false", "limit": 1},
            headers=headers,
            timeout=30,
        ).json()["total"]
        if waiting == 0:
            break
        if time.monotonic() - started > 600:
            raise RuntimeError(f"{waiting} events still waiting after 10 minutes")
        time.sleep(0.2)
    catch_up = time.monotonic() - started
    return {
        "catch_up_s": round(catch_up, 1),
        "applied_per_s": round(received / (duration + catch_up), 1),
    }


def median_of(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(r[key] for r in runs) for key in runs[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    url = scratch_postgres("catalog_bench_lineage_intake")
    token, tokens_file = token_file()
    env = SHIPPED_ENV | {
        "CATALOG_DATABASE_URL": url,
        "CATALOG_SEARCH_INDEX_DIR": tempfile.mkdtemp(),
        "AUTH_TOKENS_FILE": str(tokens_file),
        "LOG_LEVEL": "info",
        "CATALOG_BULK_MAX_ITEMS": "1000",
        # The intake's own per-client limit (100/s) too: far above this load, as the others.
        "CATALOG_RATE_LIMIT_ENDPOINTS": json.dumps(
            dict.fromkeys(
                ("GET /api/discover/search", "POST /api/v1/lineage"), f"{PLENTY}00/{PLENTY}"
            )
        ),
    }
    result: dict[str, Any] = {}
    with serving(env, PORT, workers=2) as server:
        base = server.base
        post_all(base, token, steady_events("steady", JOBS))  # first pass: everything made
        steady = [json.dumps(e) for e in steady_events("steady", 4000)]
        rounds: dict[str, list[dict[str, float]]] = {"steady": [], "first": [], "product": []}
        for r in range(args.rounds):
            first = [json.dumps(e) for e in first_sight_events(f"new{r}", 20000)]
            for mix, bodies in (("steady", steady), ("first", first)):
                run = wrk_post(base, "/api/v1/lineage", token, bodies, args.duration)
                received = int(run["requests"] - run["errors"])
                run |= drained(base, token, received, args.duration)
                rounds[mix].append(run)
            # New names every round: a name sent twice is a (cheaper) 409, not a write.
            writes = [
                json.dumps(
                    {
                        "name": f"bench write {uuid.uuid4()}",
                        "team": "t",
                        "category": "c",
                        "owner": "o",
                    }
                )
                for _ in range(20000)
            ]
            rounds["product"].append(
                wrk_post(base, "/api/data-products", token, writes, args.duration)
            )
        result["intake"] = {k: median_of(v) for k, v in rounds.items()}
        starts = asyncio.run(seed_column_edges(url, base, token))
        walks: dict[str, list[dict[str, float]]] = {
            "walk 1 conn": [],
            "walk 16 conn": [],
            "both 16 conn": [],
        }
        for _ in range(args.rounds):
            walks["walk 1 conn"].append(
                run_wrk(base, walk_paths(starts, "upstream"), args.duration, token, 1)
            )
            walks["walk 16 conn"].append(
                run_wrk(base, walk_paths(starts, "upstream"), args.duration, token, 16)
            )
            walks["both 16 conn"].append(
                run_wrk(base, walk_paths(starts, "both"), args.duration, token, 16)
            )
        result["walk"] = {k: median_of(v) for k, v in walks.items()}
        sample = httpx.get(
            base + walk_paths(starts, "upstream")[0], headers={"authorization": f"Bearer {token}"}
        ).json()
        result["walk_nodes_example"] = len(sample["nodes"])
        result["worker_rss_mib"] = server.worker_rss_mib()
    save("lineage_intake", result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
