"""`catalog serve` as a process: JSON logs, migrations + demo data, graceful SIGTERM."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import make_url

from tests.support.metrics import wait_for_in_flight
from tests.support.process import catalog_server, run_catalog
from tests.support.tcp_proxy import TcpProxy


def seeded(stdout: str) -> object:
    """`loaded` of the seed command's `seed_demo` log line (one JSON object per line)."""
    lines = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    return next(line["loaded"] for line in lines if line.get("event") == "seed_demo")


def test_migrate_seed_and_serve_a_fresh_sqlite_file(tmp_path: Path) -> None:
    env = {"CATALOG_DATABASE_URL": f"sqlite:///{tmp_path}/fresh.db"}
    assert run_catalog("migrate", env=env).returncode == 0
    first = run_catalog("seed-demo", "--if-empty", env=env)
    assert first.returncode == 0
    assert seeded(first.stdout) is True
    again = run_catalog("seed-demo", "--if-empty", env=env)
    assert seeded(again.stdout) is False, "demo data must load only into an empty database"

    with catalog_server(env) as (process, base):
        assert httpx.get(f"{base}/readyz").status_code == 200
        assert httpx.get(f"{base}/api/info").json()["service"] == "catalog"
        # A living catalog: hundreds of elements, dozens of products with their history.
        totals = {
            path: httpx.get(f"{base}{path}", params={"limit": 1}).json()["total"]
            for path in (
                "/api/data-elements",
                "/api/data-products",
                "/api/tags",
                "/api/access-requests",
                "/api/regulatory-schemas",
                "/api/audit/langextract",
            )
        }
        assert totals["/api/data-elements"] >= 200
        assert totals["/api/data-products"] >= 50
        assert min(totals.values()) > 0, totals
        product = httpx.get(f"{base}/api/data-products", params={"limit": 1}).json()["items"][0]
        versions = httpx.get(f"{base}/api/data-products/{product['id']}/versions").json()
        assert versions["total"] >= 1
    output = process.stdout.read() if process.stdout else ""
    records = [json.loads(line) for line in output.splitlines() if line.strip()]
    assert records, "serve wrote nothing"
    assert {"startup", "shutdown", "request"} <= {r["event"] for r in records}
    assert all({"timestamp", "level", "event"} <= set(r) for r in records)
    assert process.returncode == 0  # a graceful shutdown is a clean exit


@pytest.fixture
async def slow_pg(postgres_url: str) -> AsyncIterator[tuple[TcpProxy, str]]:
    url = make_url(postgres_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    proxy.connect_delay = 1.5
    await proxy.up()
    yield proxy, url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    await proxy.down()


async def test_sigterm_drains_in_flight_requests(slow_pg: tuple[TcpProxy, str]) -> None:
    _, url = slow_pg
    env = {"CATALOG_DATABASE_URL": url, "CATALOG_DEPENDENCY_TIMEOUT_S": "10"}
    with catalog_server(env) as (process, base):
        async with httpx.AsyncClient(base_url=base, timeout=20) as client:
            in_flight = asyncio.create_task(client.get("/readyz"))  # ~1.5 s: slow DB connect
            await wait_for_in_flight(client, 1)
            process.send_signal(signal.SIGTERM)
            response = await in_flight
        assert response.status_code == 200, response.text
        assert await asyncio.to_thread(process.wait, 20) == 0


async def test_the_drain_ends_after_catalog_graceful_timeout_s(
    slow_pg: tuple[TcpProxy, str],
) -> None:
    """The image and the chart set the drain by CATALOG_GRACEFUL_TIMEOUT_S: a request still
    running when it ends is cut, well before it would have finished."""
    proxy, url = slow_pg
    proxy.connect_delay = 8.0
    env = {
        "CATALOG_DATABASE_URL": url,
        "CATALOG_DEPENDENCY_TIMEOUT_S": "20",
        "CATALOG_GRACEFUL_TIMEOUT_S": "1",
    }
    with catalog_server(env) as (process, base):
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            in_flight = asyncio.create_task(client.get("/readyz"))  # ~8 s: slow DB connect
            await wait_for_in_flight(client, 1)
            process.send_signal(signal.SIGTERM)
            started = time.monotonic()
            await asyncio.to_thread(process.wait, 20)
            stopped_after_s = time.monotonic() - started
            with pytest.raises(httpx.HTTPError):
                await in_flight
    assert stopped_after_s < 6, f"stopped {stopped_after_s:.1f} s after SIGTERM"


def test_metrics_of_all_workers_in_one_scrape(tmp_path: Path) -> None:
    env = {
        "CATALOG_DATABASE_URL": f"sqlite:///{tmp_path}/workers.db",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
        "RATE_LIMIT_ENABLED": "false",
    }
    assert run_catalog("migrate", env=env).returncode == 0
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "counter_stale.db").write_bytes(b"stale from an earlier run")
    with catalog_server(env, "--workers", "2") as (_, base):
        for _ in range(60):  # new connections each time: both workers get some
            assert httpx.get(f"{base}/api/info").status_code == 200
        pids = {httpx.get(f"{base}/healthz").json()["pid"] for _ in range(20)}
        scrapes = [httpx.get(f"{base}/metrics").text for _ in range(5)]
    assert len(pids) == 2, "both workers should have answered"
    for text in scrapes:  # whichever worker answered the scrape, it counts every worker
        line = next(
            line
            for line in text.splitlines()
            if line.startswith("catalog_requests_total{")
            and 'endpoint="/api/info"' in line
            and 'status="200"' in line
        )
        assert float(line.rsplit(" ", 1)[1]) == 60.0
    assert not (tmp_path / "metrics" / "counter_stale.db").exists()
