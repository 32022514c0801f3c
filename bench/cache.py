"""The response cache: cached product reads against uncached ones, and the hit ratio under a
Zipf workload with writes.

    .venv/bin/python -m bench.cache [--duration 10] [--rounds 3] [--products 5000]

1. Throughput (wrk, 32 connections, one uvicorn worker each, rounds alternated) of
   `GET /api/data-products/{id}` on PostgreSQL with the cache in process, in Redis, and off;
   and of `GET /api/info` with no middleware at all (the foundation's ceiling).
2. Zipf workload: `--products` products; 16 concurrent clients send `--requests` requests,
   each a GET of a product drawn with probability ~ 1/rank^s, and 1% of them a PATCH of one
   (which invalidates it). Reports the hit ratio from /metrics and GET latency percentiles,
   for the cache in process, in Redis, and off.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import random
import statistics
import time
from typing import Any

import httpx
import redis

from bench.http_throughput import server, wrk
from bench.support import percentiles, save, scratch_postgres, served

REDIS_URL = "redis://127.0.0.1:6379/13"
BASE_ENV = {"LOG_LEVEL": "warning", "RATE_LIMIT_ENABLED": "false"}
CACHE_VARIANTS = {
    "cache in process": {},
    "cache in Redis": {"REDIS_URL": REDIS_URL},
    "no cache": {"CATALOG_CACHE_ENABLED": "false"},
}


def flush_redis() -> None:
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    client.close()


def seed(base: str, count: int) -> list[str]:
    ids: list[str] = []
    with httpx.Client(base_url=base, timeout=120) as client:
        for start in range(0, count, 1000):
            items = [
                {
                    "name": f"bench product {i:06d}",
                    "description": f"Product number {i} of the cache benchmark",
                    "team": f"team-{i % 20}",
                    "category": f"category-{i % 7}",
                    "owner": "owner@example.com",
                }
                for i in range(start, min(count, start + 1000))
            ]
            answer = client.post("/api/data-products/bulk", json={"items": items})
            answer.raise_for_status()
            ids.extend(r["id"] for r in answer.json()["results"] if r["status"] == "created")
    return ids


def throughput(url: str, product_id: str, args: argparse.Namespace) -> dict[str, Any]:
    path = f"/api/data-products/{product_id}"
    variants: dict[str, tuple[str, dict[str, str], str]] = {
        name: ("catalog.app:app_from_env", {"CATALOG_DATABASE_URL": url, **extra}, path)
        for name, extra in CACHE_VARIANTS.items()
    }
    variants["/api/info, no middleware"] = ("bench.apps:bare_app", {}, "/api/info")
    ports = {name: 18201 + i for i, name in enumerate(variants)}
    samples: dict[str, list[float]] = {name: [] for name in variants}
    flush_redis()
    with contextlib.ExitStack() as stack:
        for name, (factory, env, _) in variants.items():
            stack.enter_context(server(factory, ports[name], BASE_ENV | env))
        for name, (_, _, target) in variants.items():
            wrk(ports[name], 2, args.connections, target)  # warm-up (and fills the cache)
        for _ in range(args.rounds):
            for name, (_, _, target) in variants.items():
                samples[name].append(
                    wrk(ports[name], args.duration, args.connections, target)["rps"]
                )
    medians = {name: statistics.median(values) for name, values in samples.items()}
    uncached = medians["no cache"]
    ceiling = medians["/api/info, no middleware"]
    return {
        "samples": samples,
        "median_rps": medians,
        "ratio_to_no_cache": {n: round(m / uncached, 3) for n, m in medians.items()},
        "ratio_to_info_no_middleware": {n: round(m / ceiling, 3) for n, m in medians.items()},
    }


def zipf_draws(ids: list[str], s: float, n: int, rng: random.Random) -> list[str]:
    cumulative = list(itertools.accumulate(1 / rank**s for rank in range(1, len(ids) + 1)))
    return rng.choices(ids, cum_weights=cumulative, k=n)


def counter(text: str, name: str, cache: str) -> float:
    prefix = f'{name}{{cache="{cache}"}} '
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(prefix))


async def workload(base: str, ids: list[str], args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(7)
    draws = zipf_draws(ids, args.zipf_s, args.requests, rng)
    writes = {i for i in range(args.requests) if rng.random() < args.write_share}
    latencies: list[float] = []
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        before = (await client.get("/metrics")).text
        queue = iter(enumerate(draws))

        async def worker() -> None:
            for i, product_id in queue:
                path = f"/api/data-products/{product_id}"
                if i in writes:
                    answer = await client.patch(path, json={"description": f"edit {i}"})
                else:
                    started = time.perf_counter()
                    answer = await client.get(path)
                    latencies.append((time.perf_counter() - started) * 1000)
                answer.raise_for_status()

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(args.clients)))
        elapsed = time.perf_counter() - started
        after = (await client.get("/metrics")).text
    hits = counter(after, "catalog_cache_hits_total", "product") - counter(
        before, "catalog_cache_hits_total", "product"
    )
    misses = counter(after, "catalog_cache_misses_total", "product") - counter(
        before, "catalog_cache_misses_total", "product"
    )
    return {
        "hit_ratio": round(hits / (hits + misses), 4) if hits + misses else None,
        "hits": hits,
        "misses": misses,
        "writes": len(writes),
        "get_latency_ms": percentiles(latencies),
        "requests_per_s": round(args.requests / elapsed, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--products", type=int, default=5000)
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--zipf-s", type=float, default=1.0)
    parser.add_argument("--write-share", type=float, default=0.01)
    args = parser.parse_args()

    url = scratch_postgres("bench_cache")
    with served({"CATALOG_DATABASE_URL": url, "CATALOG_CACHE_ENABLED": "false"}, 18290) as base:
        ids = seed(base, args.products)
    print(f"seeded {len(ids)} products", flush=True)

    result: dict[str, Any] = {"throughput": throughput(url, ids[0], args), "zipf": {}}
    for name, extra in CACHE_VARIANTS.items():
        flush_redis()
        with served({"CATALOG_DATABASE_URL": url, **extra}, 18291) as base:
            result["zipf"][name] = asyncio.run(workload(base, ids, args))
    result["parameters"] = vars(args)
    save("cache", result)

    t = result["throughput"]
    print("| variant | median req/s | vs no cache | vs /api/info bare | samples |")
    print("|---|---|---|---|---|")
    for name, values in t["samples"].items():
        print(
            f"| {name} | {t['median_rps'][name]:.0f} | {t['ratio_to_no_cache'][name]:.2f} | "
            f"{t['ratio_to_info_no_middleware'][name]:.2f} | "
            f"{', '.join(f'{v:.0f}' for v in values)} |"
        )
    print()
    print("| Zipf workload | hit ratio | GET p50 ms | GET p95 ms | GET p99 ms | req/s |")
    print("|---|---|---|---|---|---|")
    for name, z in result["zipf"].items():
        lat = z["get_latency_ms"]
        print(
            f"| {name} | {z['hit_ratio']} | {lat['p50']} | {lat['p95']} | {lat['p99']} | "
            f"{z['requests_per_s']} |"
        )


if __name__ == "__main__":
    main()
