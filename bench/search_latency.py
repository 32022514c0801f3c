"""Search and suggest latency over a generated catalog, under wrk, as shipped.

    .venv/bin/python -m bench.search_latency --database postgresql [--products 100000]
        [--baseline REF] [--reuse] [--duration 20]

Generates (or, with --reuse, keeps) a catalog of `--products` products (`bench.search_data`),
builds its search index with `catalog search rebuild` (timed: the full-rebuild figure), and
serves it with `catalog serve --workers 2` in the configuration a user runs: auth on (a bearer
token from AUTH_TOKENS_FILE), rate limiting on with limits far above the load, LOG_LEVEL=info,
and the response cache OFF, so every request reaches the engine. wrk (2 threads, 16
connections) then runs a fixed mix of 16 search URLs and of 16 suggest URLs, round-robin, and
a Lua script reports p50/p95/p99; `--rounds` alternate the engines (median reported). It also
reports the engine's own time per call, the index size on disk, the resident memory of each
worker, and whether each first page equals the blend over every match (bench/ranking_check.py).

With `--baseline REF` the same catalog is first generated, served and measured with the code
of git ref REF (the SQL engine before the search index), so one run shows before and after.
Targets: search p95 <= 25 ms at 100k products on both databases, suggest p95 <= 10 ms;
search p95 <= 50 ms at 1,000,000; full rebuild of 100k <= 30 s.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

from bench.support import (
    SHIPPED_ENV,
    Server,
    baseline_source,
    catalog_env,
    migrate,
    running,
    save,
    scratch_postgres,
    serving,
    token_file,
)

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

# wrk's summary as one line run_wrk reads (a %-template: its % are doubled).
DONE_LUA = """
done = function(summary, latency, requests)
  io.write(string.format("RESULT p50=%%.3f p95=%%.3f p99=%%.3f requests=%%d errors=%%d\\n",
    latency:percentile(50) / 1000, latency:percentile(95) / 1000,
    latency:percentile(99) / 1000, summary.requests,
    summary.errors.status + summary.errors.connect + summary.errors.read
    + summary.errors.write + summary.errors.timeout))
end
"""
LUA = (
    """
paths = {%s}
counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", paths[(counter %% #paths) + 1], {["Authorization"] = "Bearer %s"})
end
"""
    + DONE_LUA
)
PORT = 18121
FLOOR = "floor (same engine, bare Starlette: no service)"


def run_wrk(
    base: str,
    paths: list[str],
    duration: int,
    token: str,
    connections: int = 16,
    lua: str | None = None,
) -> dict[str, float]:
    """wrk GETting `paths` in turn (or running the script `lua`, which ends in DONE_LUA)."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(lua or LUA % (", ".join(f'"{p}"' for p in paths), token))
    out = subprocess.run(
        [
            "wrk",
            f"-t{min(2, connections)}",
            f"-c{connections}",
            f"-d{duration}s",
            "--timeout",
            "10s",
            "-s",
            script.name,
            base,
        ],
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
    return {
        "p50_ms": float(p50),
        "p95_ms": float(p95),
        "p99_ms": float(p99),
        "requests": int(requests),
        "rps": round(int(requests) / duration),
        "errors": int(errors),  # timeouts (10 s) and non-2xx answers
    }


def shipped_env(url: str, index_dir: Path, tokens_file: Path) -> dict[str, str]:
    """What an operator runs: auth and rate limits on (far above this load), info logs."""
    return SHIPPED_ENV | {
        "CATALOG_DATABASE_URL": url,
        "CATALOG_SEARCH_INDEX_DIR": str(index_dir),
        "CATALOG_CACHE_ENABLED": "false",
        "AUTH_TOKENS_FILE": str(tokens_file),
        "LOG_LEVEL": "info",
    }


def generate(database: str, products: int, label: str, source: Path | None) -> str:
    """A fresh catalog of `products` products for the engine of `source`; its URL."""
    name = f"catalog_bench_search_{label}_{products}"
    if database == "postgresql":
        url = scratch_postgres(name, source=source)
    else:
        path = Path(tempfile.gettempdir()) / f"{name}.db"
        path.unlink(missing_ok=True)
        url = f"sqlite:///{path}"
        migrate(url, source)
    root = source.parent if source is not None else None
    subprocess.run(
        [sys.executable, "-m", "bench.search_data", url, "--products", str(products)],
        env=catalog_env(source),
        cwd=root,
        check=True,
    )
    if database == "postgresql":
        subprocess.run(["psql", url, "-qc", "VACUUM ANALYZE"], check=True)
    return url


def database_url(database: str, products: int, label: str) -> str:
    name = f"catalog_bench_search_{label}_{products}"
    if database == "postgresql":
        return f"postgresql://root@127.0.0.1:5432/{name}"
    return f"sqlite:///{Path(tempfile.gettempdir()) / f'{name}.db'}"


def rebuild(url: str, index_dir: Path, source: Path | None = None) -> float:
    """`catalog search rebuild` (of the `source` tree, default this one) into an empty
    directory; seconds it took."""
    shutil.rmtree(index_dir, ignore_errors=True)
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "catalog", "search", "rebuild"],
        env=catalog_env(source)
        | {
            "CATALOG_DATABASE_URL": url,
            "CATALOG_SEARCH_INDEX_DIR": str(index_dir),
            "LOG_LEVEL": "warning",
        },
        check=True,
    )
    return round(time.perf_counter() - started, 2)


def drain(base: str, timeout_s: float = 300.0) -> None:
    """Wait until the server has finished what wrk left in flight (a slow engine keeps
    working on its backlog after wrk stops, and would load the next engine's run)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        text = httpx.get(f"{base}/metrics", timeout=30).text
        found = re.search(r"^catalog_in_flight_requests(?:\{[^}]*\})? ([\d.e+-]+)$", text, re.M)
        if found is None or float(found.group(1)) <= 1:  # the scrape itself
            return
        time.sleep(0.5)
    raise RuntimeError(f"{base} still busy after {timeout_s}s")


def engine_ms(base: str) -> dict[str, float]:
    """Mean engine time per query kind, from the service's own histogram (after the runs)."""
    text = httpx.get(f"{base}/metrics", timeout=10).text
    sums: dict[str, float] = {}
    counts: dict[str, float] = {}
    for line in text.splitlines():
        found = re.match(
            r'catalog_search_query_duration_seconds_(sum|count)\{kind="(\w+)"\} ([\d.e+-]+)', line
        )
        if found:
            part, kind, number = found.groups()
            (sums if part == "sum" else counts)[kind] = float(number)
    return {k: round(sums[k] / counts[k] * 1000, 3) for k in sums if counts.get(k)}


def median_run(runs: list[dict[str, float]]) -> dict[str, Any]:
    """The run of median p95 (its own p50/p99 and rate kept together), with every run."""
    ordered = sorted(runs, key=lambda run: run["p95_ms"])
    return ordered[len(ordered) // 2] | {"runs": runs}


def floor_serving(
    index_dir: Path, port: int, workers: int
) -> contextlib.AbstractContextManager[Server]:
    """bench/search_floor.py (the engine behind a bare Starlette app) on granian, `workers`
    workers, once it has an index snapshot."""
    granian = Path(sys.executable).with_name("granian")
    command = [str(granian), "--interface", "asgi", "--factory", "--workers", str(workers)]
    command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    environment = catalog_env() | {"BENCH_SEARCH_INDEX_DIR": str(index_dir)}
    return running([*command, "bench.search_floor:app"], environment, port, "the floor app")


def measure(
    engines: list[tuple[str, str, Path, Path | None]],
    duration: int,
    workers: int,
    rounds: int,
    floor: Path | None = None,
) -> list[dict[str, Any]]:
    """Serve every engine at once (each idle while another is measured) and alternate them
    round by round, so the machine's drift hits all alike; medians of the rounds. `floor`:
    also the engine over that index behind a bare app (bench/search_floor.py)."""
    token, tokens_file = token_file()
    search_paths = [f"/api/discover/search?{urlencode(p)}" for p in SEARCHES]
    suggest_paths = [f"/api/discover/suggest?{urlencode({'q': q})}" for q in SUGGESTS]
    runs: dict[str, dict[str, list[dict[str, float]]]] = {}
    with contextlib.ExitStack() as stack:
        servers = {}
        started: list[tuple[str, contextlib.AbstractContextManager[Server]]] = [
            (label, serving(shipped_env(url, index_dir, tokens_file), PORT + n, workers, source))
            for n, (label, url, index_dir, source) in enumerate(engines)
        ]
        if floor is not None:
            started.append((FLOOR, floor_serving(floor, PORT + len(engines), workers)))
        for label, context in started:
            server = stack.enter_context(context)
            run_wrk(server.base, search_paths + suggest_paths, 3, token)  # warm-up
            drain(server.base)
            servers[label] = server
            runs[label] = {"search": [], "suggest": []}
        if floor is not None:
            shipped = servers[engines[-1][0]]
            same = same_answers(shipped.base, servers[FLOOR].base, search_paths, token)
            print(f"floor answers equal to the service's: {same}/{len(search_paths)}", flush=True)
        for _ in range(rounds):
            for kind, paths in (("search", search_paths), ("suggest", suggest_paths)):
                for label, server in servers.items():
                    runs[label][kind].append(run_wrk(server.base, paths, duration, token))
                    drain(server.base)
        results: list[dict[str, Any]] = []
        for label, server in servers.items():
            results.append(
                {
                    "engine": label,
                    "search": median_run(runs[label]["search"]),
                    "suggest": median_run(runs[label]["suggest"]),
                    "worker_rss_mib": server.worker_rss_mib(),
                    "engine_mean_ms": engine_ms(server.base),
                }
            )
        if floor is not None:
            results[-1]["answers_equal"] = f"{same}/{len(search_paths)}"
    return results


def same_answers(service: str, floor: str, paths: list[str], token: str) -> int:
    """How many of `paths` the floor answers as the service does (total, facets, result ids):
    the floor must do the engine work the service does, or its figures mean nothing."""
    headers = {"authorization": f"Bearer {token}"}
    same = 0
    for path in paths:
        answers = [
            httpx.get(base + path, headers=headers, timeout=30).json() for base in (service, floor)
        ]
        kept = [(a["total_count"], a["facets"], [r["id"] for r in a["results"]]) for a in answers]
        same += kept[0] == kept[1]
    return same


def check_ranking(index_dir: Path, url: str) -> dict[str, Any]:
    """Each relevance query of the mix: is its first page the blend over every match?"""
    from bench.ranking_check import agreement

    return agreement(
        index_dir, url, [p for p in SEARCHES if p.get("sort_by") in (None, "relevance")]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--duration", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (median)")
    parser.add_argument("--baseline", metavar="REF", help="also measure the engine of git ref REF")
    parser.add_argument(
        "--baseline-engine",
        choices=["sql", "tantivy"],
        default="sql",
        help="what REF searches with (tantivy: its index is built by REF's own code first)",
    )
    parser.add_argument("--reuse", action="store_true", help="keep the generated catalogs")
    parser.add_argument(
        "--floor",
        action="store_true",
        help="also serve the index behind a bare app with no service (bench/search_floor.py)",
    )
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed (Debian: apt-get install wrk)")

    engines: list[tuple[str, Path | None]] = []
    if args.baseline:
        engine = "SQL" if args.baseline_engine == "sql" else "Tantivy"
        engines.append((f"before ({args.baseline}, {engine})", baseline_source(args.baseline)))
    engines.append(("after (Tantivy)", None))
    prepared = []
    extra: dict[str, dict[str, Any]] = {}
    for label, source in engines:
        tag = "before" if source is not None else "after"
        url = (
            database_url(args.database, args.products, tag)
            if args.reuse
            else generate(args.database, args.products, tag, source)
        )
        index_dir = Path(tempfile.gettempdir()) / f"catalog_bench_search_index_{tag}"
        if source is None:
            extra[label] = {
                "rebuild_s": rebuild(url, index_dir),
                "index_mib": round(
                    sum(f.stat().st_size for f in index_dir.rglob("*") if f.is_file()) / 2**20,
                    1,
                ),
                "ranking_check": check_ranking(index_dir, url),
            }
        elif args.baseline_engine == "tantivy":
            extra[label] = {"rebuild_s": rebuild(url, index_dir, source)}
        prepared.append((label, url, index_dir, source))
    floor = prepared[-1][2] if args.floor else None  # this tree's index: prepared last
    rows = [
        row | extra.get(row["engine"], {})
        for row in measure(prepared, args.duration, args.workers, args.rounds, floor)
    ]
    for row in rows:
        print(json.dumps(row), flush=True)
    result = {
        "database": args.database,
        "products": args.products,
        "workers": args.workers,
        "concurrency": 16,
        "rounds": args.rounds,
        "cache": "off",
        "configuration": "auth on, rate limits on, LOG_LEVEL=info",
        "rows": rows,
    }
    save(f"search_latency_{args.database}_{args.products}", result)
    print(
        f"\n| {args.database}, {args.products} products | search p50 / p95 / p99 ms | req/s "
        "| suggest p50 / p95 / p99 ms | req/s | rebuild s | index MiB | worker RSS MiB |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        s, g = row["search"], row["suggest"]
        print(
            f"| {row['engine']} | {s['p50_ms']} / {s['p95_ms']} / {s['p99_ms']}"
            f"{' (' + str(s['errors']) + ' errors)' if s['errors'] else ''} | {s['rps']} | "
            f"{g['p50_ms']} / {g['p95_ms']} / {g['p99_ms']} | {g['rps']} | "
            f"{row.get('rebuild_s', '-')} | {row.get('index_mib', '-')} | "
            f"{', '.join(map(str, row['worker_rss_mib']))} |"
        )


if __name__ == "__main__":
    main()
