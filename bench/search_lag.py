"""Write-to-searchable lag: how long after a write's answer search shows it, under load.

    .venv/bin/python -m bench.search_lag --database postgresql [--rate 200] [--duration 30]

Serves the 100k-product catalog of `bench.search_latency` (run that first; it is reused) with
`catalog serve --workers 2` as shipped (auth and rate limits on, LOG_LEVEL=info). A client
changes product descriptions at `--rate` writes per second, each with a word of its own;
for every tenth write a watcher searches that word every 20 ms until the product is found.
The lag of a write is from its answer (its commit came before) to the first search that finds
it: the whole path (change log, the writer's poll and batch, the commit, every worker's
reload). Target: p95 <= 1 s at 200 writes/s.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import secrets
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.search_latency import database_url, shipped_env
from bench.support import percentiles, save, serving

SAMPLE_EVERY = 10
POLL_S = 0.02


async def watch(client: httpx.AsyncClient, word: str, written_at: float, lags: list[float]) -> None:
    deadline = written_at + 30
    while time.perf_counter() < deadline:
        answer = await client.get("/api/discover/search", params={"q": word})
        if answer.status_code == 200 and answer.json()["total_count"] == 1:
            lags.append((time.perf_counter() - written_at) * 1000)
            return
        await asyncio.sleep(POLL_S)
    lags.append(float("inf"))


async def run(base: str, token: str, rate: float, duration: float) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=64)
    async with httpx.AsyncClient(
        base_url=base, headers=headers, timeout=30, limits=limits
    ) as client:
        page = await client.get("/api/data-products", params={"limit": 500})
        products = [p["id"] for p in page.raise_for_status().json()["items"]]
        lags: list[float] = []
        watchers: list[asyncio.Task[None]] = []
        writes: list[asyncio.Task[None]] = []
        started = time.perf_counter()
        failures = 0

        async def write(i: int) -> None:
            nonlocal failures
            word = f"lag{i:07d}x"
            answer = await client.patch(
                f"/api/data-products/{products[i % len(products)]}",
                json={"description": f"changed by the lag benchmark: {word}"},
            )
            if answer.status_code != 200:
                failures += 1
                return
            if i % SAMPLE_EVERY == 0:
                watchers.append(asyncio.create_task(watch(client, word, time.perf_counter(), lags)))

        i = 0
        while (elapsed := time.perf_counter() - started) < duration:
            due = int(elapsed * rate)
            while i < due:
                writes.append(asyncio.create_task(write(i)))
                i += 1
            await asyncio.sleep(0.005)
        await asyncio.gather(*writes)
        took = time.perf_counter() - started
        await asyncio.gather(*watchers)
    finite = [lag for lag in lags if lag != float("inf")]
    return {
        "writes": i,
        "write_rate": round(i / took, 1),
        "failed_writes": failures,
        "sampled": len(lags),
        "never_found": len(lags) - len(finite),
        "lag_ms": percentiles(finite) if finite else {},
        "lag_max_ms": round(max(finite), 1) if finite else None,
        "lag_mean_ms": round(statistics.mean(finite), 1) if finite else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--duration", type=float, default=30.0)
    args = parser.parse_args()
    url = database_url(args.database, args.products, "after")
    index_dir = Path(tempfile.gettempdir()) / "catalog_bench_search_index_after"
    token = secrets.token_urlsafe(24)
    tokens_file = Path(tempfile.mkdtemp()) / "tokens"
    tokens_file.write_text(f"{hashlib.sha256(token.encode()).hexdigest()} bench admin\n")
    env = shipped_env(url, index_dir, tokens_file)
    with serving(env, port=18122, workers=2) as server:
        result = asyncio.run(run(server.base, token, args.rate, args.duration))
    result = {"database": args.database, "products": args.products, "rate": args.rate} | result
    save(f"search_lag_{args.database}", result)
    lag = result["lag_ms"]
    print(
        f"| {args.database} | {result['write_rate']} writes/s | lag p50 {lag.get('p50')} ms, "
        f"p95 {lag.get('p95')} ms, max {result['lag_max_ms']} ms | "
        f"{result['never_found']} never found, {result['failed_writes']} failed writes |"
    )


if __name__ == "__main__":
    main()
