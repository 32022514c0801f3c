"""Notification delivery lag: from a version's commit to its signed webhook's receipt.

    .venv/bin/python -m bench.notify_delivery [--duration 30] [--rate 100] [--rounds 3]

`catalog serve --workers 2` on a scratch PostgreSQL database, as shipped (auth on, rate limits
on far above the load, LOG_LEVEL=info). 50 data products, each with one webhook subscription
(50 subscriptions, one receiver in this process: a threaded HTTP server that answers 204 and
notes when each event arrived). The load publishes versions at `--rate` per second, open loop
(each request starts on its schedule, whatever the others do), spread over the 50 products:
every version makes a `product.version_published` event for one subscription.

The lag of an event is from the moment its write's 201 arrived here (the commit is just
before it) to the moment its webhook arrived here: one clock, no skew. Reported: p50/p95/p99
lag, events lost (written, never received) and received twice, and the write's own latency,
with and without the 50 subscriptions (the cost of notifications on the write path).

Target (issue 18): p95 <= 2 s at 100 events/s with 50 subscriptions; none lost or doubled.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from bench.support import (
    PLENTY,
    SHIPPED_ENV,
    baseline_source,
    percentiles,
    save,
    scratch_postgres,
    serving,
    token_file,
)

PORT = 18151
RECEIVER_PORT = 18152
PRODUCTS = 50


class Arrivals:
    """What the receiver saw: per (product id, version) the arrival time, and repeats."""

    def __init__(self) -> None:
        self.at: dict[tuple[str, str], float] = {}
        self.ids: dict[str, int] = {}
        self.lock = threading.Lock()

    def note(self, body: dict[str, Any]) -> None:
        now = time.monotonic()
        key = (body["subject"]["id"], body["payload"]["version"])
        with self.lock:
            self.at.setdefault(key, now)
            self.ids[body["id"]] = self.ids.get(body["id"], 0) + 1


def receive(arrivals: Arrivals) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("content-length", 0)))
            body = json.loads(raw)
            if body.get("type") == "product.version_published":
                arrivals.note(body)
            self.send_response(204)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", RECEIVER_PORT), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


async def setup(base: str, token: str, subscribe: bool) -> list[str]:
    headers = {"authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as client:
        items = [
            {
                "name": f"notify bench {time.time_ns()} {i}",
                "team": "bench",
                "category": "c",
                "owner": "o",
            }
            for i in range(PRODUCTS)
        ]
        answer = await client.post("/api/data-products/bulk", json={"items": items})
        answer.raise_for_status()
        products = [r["id"] for r in answer.json()["results"]]
        if subscribe:
            for i, product in enumerate(products):
                body = {
                    "product_id": product,
                    "url": f"http://127.0.0.1:{RECEIVER_PORT}/hook/{i}",
                    "event_types": ["product.version_published"],
                }
                (await client.post("/api/subscriptions", json=body)).raise_for_status()
    return products


async def publish(
    base: str, token: str, products: list[str], rate: float, duration: float
) -> tuple[dict[tuple[str, str], float], list[float]]:
    """Versions at `rate` per second for `duration`, open loop: (product, version) -> when its
    201 arrived, and each write's latency in ms."""
    committed: dict[tuple[str, str], float] = {}
    latencies: list[float] = []
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    headers = {"authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(
        base_url=base, headers=headers, timeout=60, limits=limits
    ) as client:

        async def one(n: int) -> None:
            product = products[n % len(products)]
            version = f"1.{n // len(products)}.0"
            started = time.monotonic()
            answer = await client.post(
                f"/api/data-products/{product}/versions", json={"version": version}
            )
            done = time.monotonic()
            if answer.status_code == 201:
                committed[(product, version)] = done
                latencies.append((done - started) * 1000)

        start = time.monotonic()
        tasks = []
        for n in range(int(rate * duration)):
            await asyncio.sleep(max(0.0, start + n / rate - time.monotonic()))
            tasks.append(asyncio.create_task(one(n)))
        await asyncio.gather(*tasks)
    return committed, latencies


def settle(arrivals: Arrivals, committed: dict[tuple[str, str], float], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with arrivals.lock:
            if all(key in arrivals.at for key in committed):
                return
        time.sleep(0.1)


def one_round(
    base: str, token: str, arrivals: Arrivals, rate: float, duration: float, subscribe: bool
) -> dict[str, Any]:
    products = asyncio.run(setup(base, token, subscribe))
    started = time.monotonic()
    committed, latencies = asyncio.run(publish(base, token, products, rate, duration))
    result: dict[str, Any] = {
        "events": len(committed),
        "offered_per_s": rate,
        # Written per second from the first request to the last 201: under the offered rate
        # when the server cannot keep up (the writes queue and their latency grows).
        "written_per_s": round(len(committed) / (max(committed.values()) - started), 1),
        "write_ms": percentiles(latencies),
    }
    if subscribe:
        settle(arrivals, committed, 120)
        with arrivals.lock:
            lags = [(arrivals.at[k] - t) * 1000 for k, t in committed.items() if k in arrivals.at]
            lost = sum(1 for k in committed if k not in arrivals.at)
            doubled = sum(1 for count in arrivals.ids.values() if count > 1)
        result |= {"lag_ms": percentiles(lags), "lost": lost, "received_twice": doubled}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=30)
    parser.add_argument("--rate", type=float, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--baseline",
        default="ab8383b",
        help="the commit before notifications: its writes, served the same way, are the row "
        "'before' (what the write path cost without events)",
    )
    args = parser.parse_args()
    url = scratch_postgres("catalog_bench_notify")
    token, tokens_file = token_file()
    env = SHIPPED_ENV | {
        "CATALOG_DATABASE_URL": url,
        "CATALOG_SEARCH_INDEX_DIR": tempfile.mkdtemp(),
        "AUTH_TOKENS_FILE": str(tokens_file),
        "LOG_LEVEL": "info",
        "CATALOG_NOTIFY_ALLOWED_HOSTS": "127.0.0.1",
        "RATE_LIMIT_PER_IP_RPS": PLENTY,
    }
    arrivals = Arrivals()
    receiver = receive(arrivals)
    before = f"before notifications ({args.baseline})"
    rows: dict[str, list[dict[str, Any]]] = {
        before: [],
        "no subscriptions": [],
        "50 subscriptions": [],
    }
    source = baseline_source(args.baseline)
    old_env = env | {
        "CATALOG_DATABASE_URL": scratch_postgres("catalog_bench_notify_before", source=source),
        "CATALOG_SEARCH_INDEX_DIR": tempfile.mkdtemp(),
    }
    try:
        for _ in range(args.rounds):
            with serving(old_env, PORT, workers=2, source=source) as server:
                one_round(server.base, token, arrivals, args.rate, 5, subscribe=False)  # warm
                run = one_round(server.base, token, arrivals, args.rate, args.duration, False)
                print(before, json.dumps(run))
                rows[before].append(run)
            with serving(env, PORT, workers=2) as server:
                one_round(server.base, token, arrivals, args.rate, 5, subscribe=False)  # warm
                for name, subscribe in (("no subscriptions", False), ("50 subscriptions", True)):
                    run = one_round(
                        server.base, token, arrivals, args.rate, args.duration, subscribe
                    )
                    print(name, json.dumps(run))
                    rows[name].append(run)
                rss = server.worker_rss_mib()
    finally:
        receiver.shutdown()
    result: dict[str, Any] = {"rate": args.rate, "duration_s": args.duration, "worker_rss_mib": rss}
    for name, runs in rows.items():
        result[name] = {
            "events": statistics.median(r["events"] for r in runs),
            "written_per_s": statistics.median(r["written_per_s"] for r in runs),
            "write_p50_ms": statistics.median(r["write_ms"]["p50"] for r in runs),
            "write_p95_ms": statistics.median(r["write_ms"]["p95"] for r in runs),
        }
        if "lag_ms" in runs[0]:
            result[name] |= {
                "lag_p50_ms": statistics.median(r["lag_ms"]["p50"] for r in runs),
                "lag_p95_ms": statistics.median(r["lag_ms"]["p95"] for r in runs),
                "lag_p99_ms": statistics.median(r["lag_ms"]["p99"] for r in runs),
                "lost": sum(r["lost"] for r in runs),
                "received_twice": sum(r["received_twice"] for r in runs),
            }
    save("notify_delivery", result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
