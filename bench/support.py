"""Shared pieces of the benchmarks: a scratch database, a served catalog, latency summaries."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy import make_url

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
DEFAULT_ADMIN_URL = "postgresql://root@127.0.0.1:5432/test"


async def _as_admin(admin_url: str, *statements: str) -> None:
    admin = make_url(admin_url)
    connection = await asyncpg.connect(
        host=admin.host, port=admin.port, user=admin.username, database=admin.database
    )
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


async def drop_database(admin_url: str, name: str) -> None:
    await _as_admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _recreate(admin_url: str, name: str) -> str:
    admin = make_url(admin_url)
    await _as_admin(
        admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"'
    )
    return admin.set(database=name).render_as_string(hide_password=False)


def scratch_postgres(name: str, admin_url: str | None = None) -> str:
    """A fresh, migrated PostgreSQL database for a benchmark; returns its URL."""
    admin = admin_url or os.environ.get("BENCH_ADMIN_URL", DEFAULT_ADMIN_URL)
    url = asyncio.run(_recreate(admin, name))
    migrate(url)
    return url


def migrate(url: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "catalog", "migrate"],
        env={**os.environ, "CATALOG_DATABASE_URL": url, "LOG_LEVEL": "warning"},
        check=True,
        capture_output=True,
    )


@contextmanager
def served(env: dict[str, str], port: int, workers: int = 1) -> Iterator[str]:
    """`catalog serve` on `port` with `env`; yields its base URL."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "catalog",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ],
        env={**os.environ, "LOG_LEVEL": "warning", "RATE_LIMIT_ENABLED": "false", **env},
        stdout=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("catalog serve did not become ready")
            time.sleep(0.2)
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(60)


def percentiles(samples_ms: list[float]) -> dict[str, float]:
    ordered = sorted(samples_ms)

    def pick(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)

    return {
        "p50": round(statistics.median(ordered), 2),
        "p95": pick(0.95),
        "p99": pick(0.99),
        "n": len(ordered),
    }


def save(name: str, result: dict[str, Any]) -> None:
    RESULTS.mkdir(exist_ok=True)
    result = {"date": time.strftime("%Y-%m-%d"), **result}
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
