"""Search and suggest latency over a generated catalog, at concurrency 16, under wrk.

    .venv/bin/python -m bench.search_latency --database postgresql [--products 100000]
    .venv/bin/python -m bench.search_latency --database sqlite [--products 100000]

Builds (or reuses, with --reuse) a catalog of `--products` products with `bench.search_data`,
serves it with `catalog serve` (2 workers for PostgreSQL; 1 for SQLite, whose writers are
serialised anyway), and runs wrk (2 threads, 16 connections) over a fixed mix of search URLs
and then of suggest URLs; a Lua script picks the URLs round-robin and reports p50/p95/p99.
For PostgreSQL it also records EXPLAIN ANALYZE of the main queries in
`bench/results/search_plans.txt`. Targets: search p95 < 25 ms and suggest p95 < 10 ms on
PostgreSQL; search p95 < 50 ms on SQLite.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlencode

import redis
from sqlalchemy import text

from bench.support import RESULTS, migrate, save, scratch_postgres, served
from catalog.db.engine import create_engine, session_factory
from catalog.discover.query import parse
from catalog.discover.ranking import Weights
from catalog.discover.repository import DiscoverRepository, Filters, page_window, text_match
from catalog.settings import Settings

SEARCHES = [
    {"q": "monthly revenue"},  # multi-word
    {"q": "reven"},  # prefix
    {"q": "invoice 4821"},  # specific
    {"q": "custmer snapshot"},  # typo
    {"q": "gdpr"},  # tag name
    {"q": "ledger balances", "team": "finance"},  # filtered
    {"q": "shipment", "status": "published", "sort_by": "popularity"},
    {"q": "claim events 77"},
    {"q": "subscription", "tag": "sensitivity"},  # parent tag: its children count
    {"sort_by": "recent"},  # browse, no query
    {"q": "aggregated contract positions"},
    {"q": "quarterly lead scores", "explain": "true"},
    {"q": "customer"},  # broad: a quarter of the catalog
    {"q": "asset", "category": "reporting"},
    {"q": "payment movements 1234"},
    {"q": "historical ticket"},
]
SUGGESTS = [
    "cu",
    "cust",
    "rev",
    "inv",
    "led",
    "ship",
    "gdp",
    "custmr",
    "paym",
    "ticket",
    "sub",
    "qua",
    "supp",
    "lea",
    "ass",
    "claim_f",
]

LUA = """
paths = {%s}
counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", paths[(counter %% #paths) + 1])
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT p50=%%.3f p95=%%.3f p99=%%.3f requests=%%d errors=%%d\\n",
    latency:percentile(50) / 1000, latency:percentile(95) / 1000,
    latency:percentile(99) / 1000, summary.requests,
    summary.errors.status + summary.errors.connect + summary.errors.read
    + summary.errors.write + summary.errors.timeout))
end
"""


def run_wrk(base: str, paths: list[str], duration: int) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(LUA % ", ".join(f'"{p}"' for p in paths))
    out = subprocess.run(
        ["wrk", "-t2", "-c16", f"-d{duration}s", "--timeout", "10s", "-s", script.name, base],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    match = re.search(
        r"RESULT p50=([\d.]+) p95=([\d.]+) p99=([\d.]+) requests=(\d+) errors=(\d+)", out
    )
    if not match:
        raise RuntimeError(out)
    p50, p95, p99, requests, errors = match.groups()
    if int(errors):
        raise RuntimeError(f"{errors} errors during the run:\n{out}")
    return {
        "p50_ms": float(p50),
        "p95_ms": float(p95),
        "p99_ms": float(p99),
        "requests": int(requests),
        "rps": round(int(requests) / duration),
    }


async def explain_plans(database_url: str) -> str:
    """EXPLAIN ANALYZE of the search statement for a few representative queries."""
    settings = Settings(database_url=database_url)
    engine = create_engine(settings)
    out = []
    async with session_factory(engine)() as session:
        repo = DiscoverRepository(session)
        for params in ({"q": "monthly revenue"}, {"q": "customer"}, {"q": "gdpr"}):
            match = text_match("postgresql", parse(params["q"]))
            sql, binds = repo.search_sql(
                match, Filters(), Weights.from_settings(settings), "relevance"
            )
            rows = await session.execute(
                text("EXPLAIN (ANALYZE, BUFFERS) " + sql), binds | page_window(20, 0)
            )
            out.append(f"-- search q={params['q']!r}\n" + "\n".join(r[0] for r in rows))
        rows = await session.execute(
            text(
                "EXPLAIN (ANALYZE) SELECT id, name FROM data_products"
                " WHERE lower(name) LIKE 'cust%' ORDER BY length(name), name LIMIT 10"
            )
        )
        out.append("-- suggest prefix 'cust'\n" + "\n".join(r[0] for r in rows))
    await engine.dispose()
    return "\n\n".join(out) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--duration", type=int, default=20)
    parser.add_argument("--reuse", action="store_true", help="keep the generated catalog")
    parser.add_argument(
        "--redis",
        metavar="URL",
        help="serve with REDIS_URL (the response cache shared by the workers); else no cache",
    )
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed (Debian: apt-get install wrk)")

    if args.database == "postgresql":
        url = "postgresql://root@127.0.0.1:5432/catalog_bench_search"
        workers = 2
        if not args.reuse:
            url = scratch_postgres("catalog_bench_search")
    else:
        path = Path(tempfile.gettempdir()) / "catalog_bench_search.db"
        url = f"sqlite:///{path}"
        workers = 1
        if not args.reuse:
            path.unlink(missing_ok=True)
            migrate(url)
    if not args.reuse:
        subprocess.run(
            [sys.executable, "-m", "bench.search_data", url, "--products", str(args.products)],
            check=True,
        )
        if args.database == "postgresql":
            subprocess.run(["psql", url, "-qc", "VACUUM ANALYZE"], check=True)

    search_paths = [f"/api/discover/search?{urlencode(p)}" for p in SEARCHES]
    suggest_paths = [f"/api/discover/suggest?{urlencode({'q': q})}" for q in SUGGESTS]
    env = {"CATALOG_DATABASE_URL": url}
    if args.redis:
        redis.Redis.from_url(args.redis).flushdb()
        env["REDIS_URL"] = args.redis
    else:  # several workers without Redis run without a cache anyway; say so explicitly
        env["CATALOG_CACHE_ENABLED"] = "false"
    with served(env, port=18121, workers=workers) as base:
        run_wrk(base, search_paths + suggest_paths, 3)  # warm-up
        search = run_wrk(base, search_paths, args.duration)
        suggest = run_wrk(base, suggest_paths, args.duration)
    result = {
        "database": args.database,
        "products": args.products,
        "workers": workers,
        "concurrency": 16,
        "cache": "redis" if args.redis else "off",
        "search": search,
        "suggest": suggest,
    }
    save(f"search_latency_{args.database}{'_cached' if args.redis else ''}", result)
    if args.database == "postgresql":
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "search_plans.txt").write_text(asyncio.run(explain_plans(url)))
    print(f"| {args.database} {args.products} products | p50 ms | p95 ms | p99 ms | req/s |")
    print("|---|---|---|---|---|")
    for name, stats in (("search", search), ("suggest", suggest)):
        print(
            f"| {name} | {stats['p50_ms']} | {stats['p95_ms']} | {stats['p99_ms']} | "
            f"{stats['rps']} |"
        )


if __name__ == "__main__":
    main()
