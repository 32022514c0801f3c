"""Bulk ingestion rate of data elements on PostgreSQL, and the list endpoint at 100k elements.

    .venv/bin/python bench/bulk_ingest.py [--elements 100000] [--batch 1000] [--concurrency 2]

Loads `--elements` data elements through `POST /api/data-elements/bulk` (batches of
`--batch`, `--concurrency` batches in flight) into a fresh PostgreSQL database served by one
`catalog serve` worker, then times `GET /api/data-elements` pages at shallow and deep offsets
and with a filter. Target: at least 5,000 elements/s through the bulk endpoint.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
from collections.abc import Callable

import httpx

from bench.support import percentiles, save, scratch_postgres, served

INLINE = {
    "data_element_concept": {"name": "Bench Concept", "object_class": "Bench", "property": "Value"},
    "representation": {"name": "bench-text", "data_type": "string", "length": 200},
}


def batch(start: int, size: int) -> dict[str, list[dict[str, object]]]:
    return {
        "items": [
            {
                "name": f"bench_element_{i:07d}",
                "definition": f"Benchmark element number {i}, describing a measured quantity.",
                "steward": f"steward-{i % 50}",
                "source": "bench",
                **INLINE,
            }
            for i in range(start, start + size)
        ]
    }


async def ingest(base: str, total: int, size: int, concurrency: int) -> dict[str, object]:
    starts = list(range(0, total, size))
    rates: list[float] = []
    semaphore = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=base, timeout=120) as client:

        async def one(start: int) -> None:
            async with semaphore:
                began = time.perf_counter()
                response = await client.post("/api/data-elements/bulk", json=batch(start, size))
                elapsed = time.perf_counter() - began
                response.raise_for_status()
                assert response.json()["created"] == min(size, total - start), response.text[:300]
                rates.append(min(size, total - start) / elapsed)

        began = time.perf_counter()
        await asyncio.gather(*(one(start) for start in starts))
        wall = time.perf_counter() - began
    return {
        "elements": total,
        "batch": size,
        "concurrency": concurrency,
        "wall_s": round(wall, 2),
        "overall_elements_per_s": round(total / wall),
        "median_batch_elements_per_s": round(statistics.median(rates)),
    }


async def list_latency(base: str, total: int, requests: int) -> dict[str, dict[str, float]]:
    shapes: dict[str, Callable[[], dict[str, str | int]]] = {
        "first page (limit 50)": lambda: {"limit": 50},
        "random offset (limit 50)": lambda: {"limit": 50, "offset": random.randrange(total - 50)},
        "deep offset 99% (limit 50)": lambda: {"limit": 50, "offset": int(total * 0.99)},
        "filter steward (limit 50)": lambda: {
            "limit": 50,
            "steward": f"steward-{random.randrange(50)}",
        },
        "projection id,name (limit 500)": lambda: {"limit": 500, "fields": "id,name"},
    }
    out: dict[str, dict[str, float]] = {}
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        for label, params in shapes.items():
            samples = []
            for _ in range(requests):
                began = time.perf_counter()
                response = await client.get("/api/data-elements", params=params())
                samples.append((time.perf_counter() - began) * 1000)
                response.raise_for_status()
            out[label] = percentiles(samples)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--elements", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--requests", type=int, default=100)
    args = parser.parse_args()

    url = scratch_postgres("catalog_bench_ingest")
    with served({"CATALOG_DATABASE_URL": url}, port=18111) as base:
        ingestion = asyncio.run(ingest(base, args.elements, args.batch, args.concurrency))
        lists = asyncio.run(list_latency(base, args.elements, args.requests))
    save("bulk_ingest", {"ingestion": ingestion, "list_latency_ms": lists})
    print("| measure | value |\n|---|---|")
    for key, value in ingestion.items():
        print(f"| {key} | {value} |")
    print("\n| list request | p50 ms | p95 ms | p99 ms |\n|---|---|---|---|")
    for label, stats in lists.items():
        print(f"| {label} | {stats['p50']} | {stats['p95']} | {stats['p99']} |")


if __name__ == "__main__":
    main()
