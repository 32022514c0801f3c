"""What one rate-limit decision costs: in process, and against Redis.

    .venv/bin/python -m bench.ratelimit_cost [--decisions 200000] [--redis redis://127.0.0.1:6379/14]

In process: the work the middleware does per request (client identity from the scope, the
checks, the decision over the global and per-IP buckets) for 10,000 distinct clients, timed
over many decisions; target under 5 µs. Redis: one decision per round trip (one EVALSHA),
timed one by one; p50 and p99.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import redis.asyncio as aioredis

from bench.support import percentiles, save
from catalog.core.client_address import client_identity
from catalog.ratelimit.buckets import Check, Limit
from catalog.ratelimit.local import LocalBuckets
from catalog.ratelimit.redis_buckets import RedisBuckets

GLOBAL = Limit("global", 1e9, 10**9)
PER_IP = Limit("ip", 1e9, 10**9)


def in_process(decisions: int) -> float:
    buckets = LocalBuckets(max_keys=100_000)
    scopes = [
        {"client": (f"10.{i // 250 % 250}.{i % 250}.1", 50000), "headers": []}
        for i in range(10_000)
    ]
    runs = []
    for _ in range(5):
        started = time.perf_counter()
        for i in range(decisions):
            scope = scopes[i % 10_000]
            _, key = client_identity(scope, ())
            buckets.decide([Check(GLOBAL, "global"), Check(PER_IP, f"ip:{key}")])
        runs.append((time.perf_counter() - started) / decisions * 1e6)
    return statistics.median(runs)


async def against_redis(url: str, decisions: int) -> dict[str, float]:
    client = aioredis.Redis.from_url(url)
    await client.flushdb()
    buckets = RedisBuckets(client)
    samples = []
    for i in range(decisions):
        checks = [Check(GLOBAL, "global"), Check(PER_IP, f"ip:10.0.{i % 250}.1")]
        started = time.perf_counter()
        await buckets.decide(checks)
        samples.append((time.perf_counter() - started) * 1000)
    await client.flushdb()
    await client.aclose()
    return percentiles(samples[100:])  # without the first calls (script load, connection)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--decisions", type=int, default=200_000)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--redis-decisions", type=int, default=5000)
    args = parser.parse_args()
    local_us = in_process(args.decisions)
    remote = asyncio.run(against_redis(args.redis, args.redis_decisions))
    save(
        "ratelimit_cost",
        {"in_process_us_per_decision": round(local_us, 2), "redis_round_trip_ms": remote},
    )
    print("| decision | cost |\n|---|---|")
    print(f"| in process (median of 5 runs) | {local_us:.2f} µs |")
    print(
        f"| Redis, one EVALSHA: p50 / p95 / p99 | {remote['p50']} / {remote['p95']} / "
        f"{remote['p99']} ms |"
    )


if __name__ == "__main__":
    main()
