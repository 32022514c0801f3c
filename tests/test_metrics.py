"""HTTP metrics: exact names, route-template labels, exactly one observation per request."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from catalog.observability.metrics import LATENCY_BUCKETS, observe_many
from tests.conftest import base_settings
from tests.support.metrics import scrape, series, value
from tests.support.probe_routes import app_with_probe_routes
from tests.support.search import caught_up
from tests.support.wait import until

HTTP_METRICS = (
    "catalog_request_duration_seconds",
    "catalog_request_size_bytes",
    "catalog_response_size_bytes",
)


@pytest.fixture
async def probe_client(
    sqlite_url: str, open_client: Callable[[FastAPI], Awaitable[AsyncClient]]
) -> AsyncClient:
    return await open_client(app_with_probe_routes(base_settings(sqlite_url, max_body_bytes=2048)))


@pytest.mark.parametrize(
    ("method", "path", "body", "endpoint", "status"),
    [
        ("GET", "/t/items/abc", None, "/t/items/{item_id}", "200"),
        ("POST", "/t/echo", b'{"name": "n", "count": 1}', "/t/echo", "201"),
        ("GET", "/no/such/path", None, "unmatched", "404"),
        ("DELETE", "/t/echo", None, "/t/echo", "405"),
        ("POST", "/t/echo", b"{" + b" " * 5000 + b"}", "/t/echo", "413"),
        ("POST", "/t/echo", b"{not json", "/t/echo", "400"),
        ("GET", "/t/boom", None, "/t/boom", "500"),
        ("GET", "/t/conflict", None, "/t/conflict", "409"),
    ],
)
async def test_exactly_one_observation_per_request(
    probe_client: AsyncClient,
    method: str,
    path: str,
    body: bytes | None,
    endpoint: str,
    status: str,
) -> None:
    labels = {"method": method, "endpoint": endpoint, "status": status}
    before = await scrape(probe_client)
    headers = {"content-type": "application/json"} if body is not None else {}
    response = await probe_client.request(method, path, content=body, headers=headers)
    assert str(response.status_code) == status
    after = await scrape(probe_client)
    assert (
        value(after, "catalog_requests_total", **labels)
        - value(before, "catalog_requests_total", **labels)
        == 1
    )
    for name in HTTP_METRICS:
        assert (
            value(after, f"{name}_count", **labels) - value(before, f"{name}_count", **labels) == 1
        ), name


async def test_sizes_are_real_body_sizes(probe_client: AsyncClient) -> None:
    body = b'{"name": "' + b"n" * 300 + b'", "count": 7}'
    labels = {"method": "POST", "endpoint": "/t/echo", "status": "201"}
    before = await scrape(probe_client)
    response = await probe_client.post(
        "/t/echo", content=body, headers={"content-type": "application/json"}
    )
    after = await scrape(probe_client)
    got_request = value(after, "catalog_request_size_bytes_sum", **labels) - value(
        before, "catalog_request_size_bytes_sum", **labels
    )
    got_response = value(after, "catalog_response_size_bytes_sum", **labels) - value(
        before, "catalog_response_size_bytes_sum", **labels
    )
    assert got_request == len(body)
    assert got_response == len(response.content)


async def test_ids_in_paths_do_not_mint_series(probe_client: AsyncClient) -> None:
    labels = {"method": "GET", "endpoint": "/t/items/{item_id}", "status": "200"}
    before = value(await scrape(probe_client), "catalog_requests_total", **labels)
    for i in range(10_000):
        await probe_client.get(f"/t/items/item-{i}")
    for i in range(50):
        await probe_client.get(f"/no/such/{i}")
    samples = await scrape(probe_client)
    endpoints = {s["endpoint"] for s in series(samples, "catalog_requests_total")}
    assert "/t/items/{item_id}" in endpoints
    assert not any("item-" in e or "/no/such" in e for e in endpoints)
    assert value(samples, "catalog_requests_total", **labels) - before == 10_000
    # flat: one series for the template, whatever the ids (other tests add their own routes)
    assert (
        len(series(samples, "catalog_requests_total", endpoint="/t/items/{item_id}", status="200"))
        == 1
    )


async def test_latency_buckets_span_5ms_to_10s(probe_client: AsyncClient) -> None:
    await probe_client.get("/livez")
    samples = await scrape(probe_client)
    buckets = {
        s["le"]
        for s in series(samples, "catalog_request_duration_seconds_bucket", endpoint="/livez")
    }
    assert {"0.005", "10.0", "+Inf"} <= buckets
    sizes = {
        s["le"] for s in series(samples, "catalog_response_size_bytes_bucket", endpoint="/livez")
    }
    assert {"100.0", "1e+07", "+Inf"} <= sizes


async def test_unknown_methods_are_grouped(probe_client: AsyncClient) -> None:
    await probe_client.request("BREW", "/livez")
    samples = await scrape(probe_client)
    methods = {s["method"] for s in series(samples, "catalog_requests_total")}
    assert "BREW" not in methods
    assert "OTHER" in methods


async def test_pool_gauges_follow_the_pool(
    postgres_url: str, open_client: Callable[[FastAPI], Awaitable[AsyncClient]]
) -> None:
    client = await open_client(
        # The search index writer, the lineage applier and the notification worker poll the
        # database (a connection for a moment each time): rarely here.
        app_with_probe_routes(
            base_settings(
                postgres_url,
                postgres_max_connections=8,
                search_poll_interval_s=60,
                lineage_apply_interval_s=60,
                notify_interval_s=60,
            )
        )
    )
    await caught_up(client)  # the writer's first round done: it waits a minute now

    async def pool_idle() -> bool:  # the writer's prune returned its connection too
        return value(await scrape(client), "catalog_db_pool_checked_out") == 0

    await until(pool_idle, "the search index writer returning its connection")
    assert (await client.get("/t/db")).status_code == 200
    # The session is closed as the answer goes out, which a loaded machine may finish just
    # after the client has the answer: wait (bounded) for the connection to be back.
    await until(pool_idle, "the request's connection returned to the pool")
    samples = await scrape(client)
    assert value(samples, "catalog_db_pool_size") == 4  # half of 8 steady, half overflow
    assert value(samples, "catalog_db_pool_checked_out") == 0  # returned after the request
    for name in ("catalog_db_pool_overflow", "catalog_db_pool_waiters"):
        assert (name, frozenset()) in samples


async def test_guide_metrics_are_registered(probe_client: AsyncClient) -> None:
    text = (await probe_client.get("/metrics")).text
    for name in (
        "catalog_neo4j_query_duration_seconds",
        "catalog_neo4j_connection_pool_size",
        "catalog_alerts_total",
        "catalog_circuit_breaker_state",
        "catalog_data_element_quality_score",
        "process_cpu_seconds_total",
    ):
        assert f"# TYPE {name}" in text or f"# HELP {name}" in text, name


def test_batched_fold_equals_one_observe_per_value() -> None:
    """The fold's per-bucket update (observe_many) writes what `observe` writes, values on a
    bucket bound, between bounds, past the last and negative included; it reaches into
    prometheus_client's histogram, so a release that changes those fields fails here."""
    values = [0.0, 0.005, 0.0051, 0.3, 2.5, 9.9, 10.0, 11.0, 42.0, -1.0, 0.005]
    expositions = []
    for fold in (False, True):
        registry = CollectorRegistry()
        histogram = Histogram("h", "h", ["k"], buckets=LATENCY_BUCKETS, registry=registry)
        child = histogram.labels("x")
        if fold:
            observe_many(child, values)
        else:
            for v in values:
                child.observe(v)
        expositions.append(
            [
                line
                for line in generate_latest(registry).decode().splitlines()
                if "_created" not in line
            ]
        )
    assert expositions[0] == expositions[1]
    assert 'h_bucket{k="x",le="0.005"} 4.0' in expositions[1]
    assert 'h_count{k="x"} 11.0' in expositions[1]
