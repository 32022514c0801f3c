"""What each middleware layer costs per request, in microseconds, measured in process.

    .venv/bin/python -m bench.middleware_cost [--requests 20000] [--rounds 5]

The app is the one `catalog serve` builds in its shipped configuration (auth on with a bearer
token, rate limits on far above the load, LOG_LEVEL=info with the log lines written to
/dev/null). `GET /api/info` (precomputed JSON, no I/O) is called straight through ASGI, one
request after another, with no server and no network, so what is left is the Python each
layer runs. Variants: the whole stack, the stack without one layer (for each layer: the
difference to the whole stack is that layer's cost), no middleware at all (what is left is
FastAPI routing among the catalog's ~130 routes and the endpoint), and a bare FastAPI app
with the one route; alternated round by round, medians of the rounds. A sequential driver
cannot show event-loop stalls under concurrency; `bench/http_throughput.py` measures those
through a real server.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from asgi_lifespan import LifespanManager
from starlette.middleware import Middleware

from bench.apps import plain_fastapi_app
from bench.support import RESULTS, SHIPPED_ENV, migrate, token_file
from catalog.app import create_app
from catalog.settings import Settings

BARE = "bare FastAPI (one route, no catalog code)"
NESTING_ONLY = "ten pass-through layers (no work, a send wrapper each)"


class PassThrough:
    """A layer that does nothing but what every layer does: a call, and a wrapped `send`."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        async def forward(message: Any) -> None:
            await send(message)

        await self.app(scope, receive, forward)


@contextlib.contextmanager
def stdout_to_devnull() -> Iterator[None]:
    """Log lines go where a container's would not be read: the cost is making and writing."""
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    try:
        yield
    finally:
        os.dup2(saved, 1)
        os.close(devnull)
        os.close(saved)


def shipped_settings(db: str, tokens: Path, index_dir: str) -> Settings:
    """The shipped configuration (bench/support.py's SHIPPED_ENV) with info logs."""
    return Settings.model_validate(
        SHIPPED_ENV
        | {
            "CATALOG_DATABASE_URL": db,
            "AUTH_TOKENS_FILE": str(tokens),
            "LOG_LEVEL": "info",
            "CATALOG_SEARCH_INDEX_DIR": index_dir,
        }
    )


async def drive(app: Any, token: str, count: int) -> float:
    """Microseconds per request over `count` sequential GET /api/info calls."""
    scope_base = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/api/info",
        "raw_path": b"/api/info",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"bench"), (b"authorization", f"Bearer {token}".encode())],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8084),
    }
    request = {"type": "http.request", "body": b"", "more_body": False}
    statuses: list[int] = []
    bodies: list[bytes] = []

    async def receive() -> dict[str, Any]:
        return request

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])
        elif message["type"] == "http.response.body" and not bodies:
            bodies.append(message.get("body", b""))

    started = time.perf_counter()
    for _ in range(count):
        await app(dict(scope_base), receive, send)
    elapsed = time.perf_counter() - started
    if set(statuses) != {200}:
        raise RuntimeError(f"answers other than 200: {sorted(set(statuses))}")
    LAST_BODY[:] = bodies[:1]
    return elapsed / count * 1e6


LAST_BODY: list[bytes] = []  # the answer of the last drive, for the bare app to copy


def name_of(middleware: Middleware) -> str:
    return getattr(middleware.cls, "__name__", repr(middleware.cls))


async def measure(requests: int, rounds: int) -> dict[str, list[float]]:
    token, tokens = token_file()
    with tempfile.TemporaryDirectory() as tmp:
        db = f"sqlite:///{tmp}/bench.db"
        migrate(db)
        app = create_app(shipped_settings(db, tokens, f"{tmp}/index"))
        stack = list(app.user_middleware)
        variants: dict[str, list[Middleware]] = {"whole stack": stack}
        for layer in stack:
            variants[f"without {name_of(layer)}"] = [m for m in stack if m is not layer]
        variants["no middleware"] = []
        # What nesting itself costs: one edge middleware instead of ten would save this much.
        variants[NESTING_ONLY] = [Middleware(PassThrough) for _ in stack]
        samples: dict[str, list[float]] = {name: [] for name in [*variants, BARE]}
        with stdout_to_devnull():
            async with LifespanManager(app) as manager:
                for layers in variants.values():  # warm-up
                    app.user_middleware = layers
                    app.middleware_stack = None  # rebuilt on the next call
                    await drive(manager.app, token, 500)
                os.environ["BENCH_INFO_BODY"] = LAST_BODY[0].decode()
                bare = plain_fastapi_app()
                await drive(bare, token, 500)
                for _ in range(rounds):
                    for name, layers in variants.items():
                        app.user_middleware = layers
                        app.middleware_stack = None
                        samples[name].append(await drive(manager.app, token, requests))
                    samples[BARE].append(await drive(bare, token, requests))
        return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    samples = asyncio.run(measure(args.requests, args.rounds))
    medians = {name: statistics.median(values) for name, values in samples.items()}
    whole = medians["whole stack"]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "middleware_cost.json").write_text(
        json.dumps({"date": time.strftime("%Y-%m-%d"), "us_per_request": samples}, indent=2) + "\n"
    )
    print("| variant | µs/request (median) | layer's cost µs (whole - without) |")
    print("|---|---|---|")
    for name, median in medians.items():
        cost = f"{whole - median:.1f}" if name.startswith("without ") else ""
        if name == "no middleware":
            cost = f"all layers: {whole - median:.1f}"
        if name == NESTING_ONLY:
            cost = f"nesting alone: {median - medians['no middleware']:.1f}"
        print(f"| {name} | {median:.1f} | {cost} |")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
