"""The web UI's search page and typeahead at 100k products, under wrk, as shipped.

    .venv/bin/python -m bench.ui_render [--database postgresql] [--products 100000] [--reuse]

Serves a generated catalog (bench.search_data, the same as bench.search_latency; `--reuse`
keeps it between runs) with `catalog serve --workers 2`, auth on (the pages take the same
bearer token as the API), rate limits on far above the load, LOG_LEVEL=info, the response
cache OFF so every page reaches the engine. In one run, round by round (median of rounds),
each of the following with one connection (one person: the render itself) and with 16 (two
cores shared, so queueing counts too):

- `/ui/search?...` (the whole page: search, facets, explain, render) against the JSON API's
  `/api/discover/search?...&explain=true` for the same 16 queries: what the page adds;
- `/ui/search/suggest?q=` (the typeahead) against `/api/discover/suggest`;

and the weight of a first visit to the search page (HTML + CSS + JS, as sent, and gzipped).

Targets (issue 16): search page p95 <= 50 ms at 100k products, first page <= 150 KB
transferred, typeahead answer within 100 ms of a keystroke (the script waits 60 ms after the
last keystroke, so the answer's p95 must stay under 40 ms).
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

from bench.search_latency import (
    SEARCHES,
    SUGGESTS,
    database_url,
    drain,
    generate,
    median_run,
    rebuild,
    run_wrk,
    shipped_env,
)
from bench.support import PLENTY, save, serving, token_file

PORT = 18131
DEBOUNCE_MS = 60  # src/catalog/ui/static/app.js waits this long after the last keystroke


def page_weight(base: str, token: str) -> dict[str, int]:
    """Bytes of a first visit to a search page: the HTML and every asset it links."""
    headers = {"authorization": f"Bearer {token}"}
    page = httpx.get(f"{base}/ui/search", params={"q": "customer"}, headers=headers, timeout=30)
    page.raise_for_status()
    bodies = [page.content]
    for url in re.findall(r'(?:href|src)="(/ui/static/[^"]+)"', page.text):
        bodies.append(httpx.get(base + url, timeout=30).content)
    return {
        "files": len(bodies),
        "bytes": sum(len(b) for b in bodies),
        "gzip_bytes": sum(len(gzip.compress(b)) for b in bodies),
    }


def measure(url: str, index_dir: Path, duration: int, rounds: int) -> dict[str, Any]:
    token, tokens_file = token_file()
    env = shipped_env(url, index_dir, tokens_file)
    # The UI's search page has the API search's own per-client limit; far above the load here.
    env["CATALOG_RATE_LIMIT_ENDPOINTS"] = json.dumps(
        {f"GET {p}": f"{PLENTY}00/{PLENTY}" for p in ("/api/discover/search", "/ui/search")}
    )
    mixes = {
        "ui search page": [f"/ui/search?{urlencode(p)}" for p in SEARCHES],
        "api search (json, explain)": [
            f"/api/discover/search?{urlencode(p | {'explain': 'true'})}" for p in SEARCHES
        ],
        "ui typeahead": [f"/ui/search/suggest?{urlencode({'q': q})}" for q in SUGGESTS],
        "api suggest": [f"/api/discover/suggest?{urlencode({'q': q})}" for q in SUGGESTS],
    }
    # One person at a time (the render itself), then 16 connections (two cores shared).
    loads = [
        (f"{name}, {c} connection{'s' if c > 1 else ''}", paths, c)
        for c in (1, 16)
        for name, paths in mixes.items()
    ]
    runs: dict[str, list[dict[str, float]]] = {name: [] for name, _, _ in loads}
    with serving(env, PORT, 2) as server:
        for paths in mixes.values():
            run_wrk(server.base, paths, 3, token)  # warm-up
            drain(server.base)
        for _ in range(rounds):
            for name, paths, connections in loads:
                runs[name].append(run_wrk(server.base, paths, duration, token, connections))
                drain(server.base)
        weight = page_weight(server.base, token)
    return {"rows": {name: median_run(r) for name, r in runs.items()}, "first_visit": weight}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--reuse", action="store_true", help="keep the generated catalog")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed (Debian: apt-get install wrk)")
    url = (
        database_url(args.database, args.products, "after")
        if args.reuse
        else generate(args.database, args.products, "after", None)
    )
    index_dir = Path(tempfile.gettempdir()) / "catalog_bench_ui_index"
    rebuild(url, index_dir)
    result = measure(url, index_dir, args.duration, args.rounds)
    weight = result["first_visit"]
    print(f"\n| {args.database}, {args.products} products | p50 / p95 / p99 ms | req/s |")
    print("|---|---|---|")
    for name, row in result["rows"].items():
        print(f"| {name} | {row['p50_ms']} / {row['p95_ms']} / {row['p99_ms']} | {row['rps']} |")
    typeahead = result["rows"]["ui typeahead, 16 connections"]["p95_ms"]
    print(
        f"\nfirst visit: {weight['files']} files, {weight['bytes'] / 1024:.1f} KiB as sent "
        f"({weight['gzip_bytes'] / 1024:.1f} KiB gzipped); keystroke to suggestions p95: "
        f"{DEBOUNCE_MS} ms wait + {typeahead} ms = {DEBOUNCE_MS + typeahead:.0f} ms"
    )
    save(
        f"ui_render_{args.database}_{args.products}",
        {
            "database": args.database,
            "products": args.products,
            "workers": 2,
            "concurrency": 16,
            "rounds": args.rounds,
            "cache": "off",
            "configuration": "auth on, rate limits on, LOG_LEVEL=info",
            "debounce_ms": DEBOUNCE_MS,
            **result,
        },
    )


if __name__ == "__main__":
    main()
