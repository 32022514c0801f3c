"""Shared pieces of the benchmarks: a scratch database, a served catalog, latency summaries."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
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


def scratch_postgres(name: str, admin_url: str | None = None, source: Path | None = None) -> str:
    """A fresh PostgreSQL database for a benchmark, migrated by `source`'s code (default: this
    checkout's); returns its URL."""
    admin = admin_url or os.environ.get("BENCH_ADMIN_URL", DEFAULT_ADMIN_URL)
    url = asyncio.run(_recreate(admin, name))
    migrate(url, source)
    return url


def migrate(url: str, source: Path | None = None) -> None:
    subprocess.run(
        [sys.executable, "-m", "catalog", "migrate"],
        env={**catalog_env(source), "CATALOG_DATABASE_URL": url, "LOG_LEVEL": "warning"},
        check=True,
        capture_output=True,
    )


def baseline_source(ref: str) -> Path:
    """The `src/` of an earlier commit (`git archive`), to serve the previous engine beside
    this one in the same run; extracted once per ref under the temp directory."""
    commit = subprocess.run(
        ["git", "rev-parse", "--short", ref], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    target = Path(tempfile.gettempdir()) / f"catalog-baseline-{commit}"
    if not (target / "src").exists() or not (target / "bench").exists():
        target.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(
            ["git", "archive", commit, "src", "bench"], cwd=ROOT, capture_output=True, check=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target / "src"


def catalog_env(source: Path | None = None) -> dict[str, str]:
    """The environment of a `python -m catalog` subprocess; `source` runs another `src/` (and
    that tree's `bench` package)."""
    env = dict(os.environ)
    if source is not None:
        env["PYTHONPATH"] = f"{source}{os.pathsep}{source.parent}"
    return env


@dataclass(frozen=True)
class Server:
    base: str
    pid: int

    def worker_rss_mib(self) -> list[float]:
        """Resident memory of each worker process (the children of `catalog serve`), MiB."""
        children = subprocess.run(
            ["pgrep", "-P", str(self.pid)], capture_output=True, text=True, check=False
        ).stdout.split()
        pids = [int(p) for p in children] or [self.pid]
        sizes = []
        for pid in pids:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    sizes.append(round(int(line.split()[1]) / 1024, 1))
        return sizes


@contextmanager
def serving(
    env: dict[str, str], port: int, workers: int = 1, source: Path | None = None
) -> Iterator[Server]:
    """`catalog serve` on `port` with `env` (from `source` when given), once /readyz says so."""
    command = [sys.executable, "-m", "catalog", "serve", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--workers", str(workers)]
    environment = catalog_env(source) | {"LOG_LEVEL": "warning", "RATE_LIMIT_ENABLED": "false"}
    with running(command, environment | env, port, "catalog serve") as server:
        yield server


@contextmanager
def running(command: list[str], env: dict[str, str], port: int, what: str) -> Iterator[Server]:
    """`command` serving on 127.0.0.1:`port`, once its /readyz answers 200 (within 60 s);
    stopped with SIGTERM afterwards."""
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while not _ready(base):
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"{what} did not become ready")
            time.sleep(0.2)
        yield Server(base, process.pid)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(60)


def _ready(base: str) -> bool:
    try:
        return httpx.get(f"{base}/readyz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


@contextmanager
def served(
    env: dict[str, str], port: int, workers: int = 1, source: Path | None = None
) -> Iterator[str]:
    """`catalog serve` on `port` with `env` (from `source` when given); yields its base URL."""
    with serving(env, port, workers, source) as server:
        yield server.base


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


PLENTY = "1000000000"
# What an operator runs: auth on (a bearer token from AUTH_TOKENS_FILE) and rate limits on, far
# above any benchmark's load; each bench adds its database, log level and token file.
SHIPPED_ENV = {
    "ENABLE_AUTH": "true",
    "RATE_LIMIT_ENABLED": "true",
    "RATE_LIMIT_GLOBAL_RPS": PLENTY,
    "RATE_LIMIT_GLOBAL_BURST": PLENTY,
    "RATE_LIMIT_PER_IP_RPS": PLENTY,
    "RATE_LIMIT_BURST": PLENTY,
    # The routes with a limit of their own (search: 200/min per client) too.
    "CATALOG_RATE_LIMIT_ENDPOINTS": json.dumps(
        {"GET /api/discover/search": f"{PLENTY}00/{PLENTY}"}
    ),
}


def token_file() -> tuple[str, Path]:
    """A bearer token and the AUTH_TOKENS_FILE that makes it an admin's."""
    token = secrets.token_urlsafe(24)
    path = Path(tempfile.mkdtemp()) / "tokens"
    path.write_text(f"{hashlib.sha256(token.encode()).hexdigest()} bench admin\n")
    return token, path
