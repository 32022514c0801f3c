"""Probes, and the service's behaviour while a dependency is down and after it returns."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import make_url

from catalog.app import create_app
from tests.conftest import base_settings
from tests.support.probe_routes import app_with_probe_routes
from tests.support.servers import Servers
from tests.support.tcp_proxy import TcpProxy

Opener = Callable[[FastAPI], Awaitable[AsyncClient]]


async def test_livez_readyz_healthz_when_all_is_well(
    database_url: str, redis_url: str, open_client: Opener
) -> None:
    client = await open_client(create_app(base_settings(database_url, redis_url=redis_url)))
    assert (await client.get("/livez")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert set(ready.json()["dependencies"]) == {"database", "redis"}
    health = (await client.get("/healthz")).json()
    assert health["status"] == "healthy"
    assert health["version"]
    assert health["uptime_s"] >= 0
    assert health["database"] in {"sqlite", "postgresql"}
    assert all(d["status"] == "up" for d in health["dependencies"].values())


@pytest.fixture
async def pg_proxy(postgres_url: str) -> AsyncIterator[TcpProxy]:
    url = make_url(postgres_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    yield proxy
    await proxy.down()


def through(proxy: TcpProxy, url: str) -> str:
    return (
        make_url(url).set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    )


async def test_database_down_at_start_then_back(
    postgres_url: str, pg_proxy: TcpProxy, open_client: Opener
) -> None:
    settings = base_settings(through(pg_proxy, postgres_url), dependency_timeout_s=1.0)
    client = await open_client(app_with_probe_routes(settings))  # starts while the DB is down

    assert (await client.get("/livez")).status_code == 200
    ready = await client.get("/readyz")
    assert ready.status_code == 503
    assert ready.headers["retry-after"] == str(settings.unavailable_retry_after_s)
    error = ready.json()["error"]
    assert error["down"] == ["database"]
    assert error["retry_after"] == settings.unavailable_retry_after_s

    failed = await client.get("/t/db")
    assert failed.status_code == 503
    assert failed.headers["retry-after"] == str(settings.unavailable_retry_after_s)
    assert failed.json()["error"]["details"] == "database unavailable"
    assert "127.0.0.1" not in failed.text
    assert "asyncpg" not in failed.text

    await pg_proxy.up()  # the database returns; the same process recovers by itself
    assert (await client.get("/readyz")).status_code == 200
    assert (await client.get("/t/db")).json() == {"products": 0}


async def test_database_dies_mid_flight_then_recovers(
    postgres_url: str, pg_proxy: TcpProxy, open_client: Opener
) -> None:
    await pg_proxy.up()
    client = await open_client(
        app_with_probe_routes(
            base_settings(through(pg_proxy, postgres_url), dependency_timeout_s=1.0)
        )
    )
    assert (await client.get("/t/db")).status_code == 200  # a pooled connection now exists

    await pg_proxy.down()  # kills pooled connections and refuses new ones
    failed = await client.get("/t/db")
    assert failed.status_code == 503
    assert "retry-after" in failed.headers

    await pg_proxy.up()
    assert (await client.get("/t/db")).status_code == 200
    assert (await client.get("/readyz")).status_code == 200


async def test_slow_database_does_not_hang_readyz(
    postgres_url: str, pg_proxy: TcpProxy, open_client: Opener
) -> None:
    pg_proxy.connect_delay = 5.0
    await pg_proxy.up()
    client = await open_client(
        create_app(base_settings(through(pg_proxy, postgres_url), dependency_timeout_s=0.5))
    )
    ready = await client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["error"]["dependencies"]["database"]["error"] == "no answer within 0.5s"


async def test_redis_down_is_named_by_readyz(
    sqlite_url: str,
    servers: Servers,
    open_client: Opener,
) -> None:
    redis = make_url(servers.redis_url)
    proxy = TcpProxy(redis.host or "127.0.0.1", redis.port or 6379)
    client = await open_client(
        create_app(
            base_settings(
                sqlite_url, redis_url=f"redis://127.0.0.1:{proxy.port}/0", dependency_timeout_s=0.5
            )
        )
    )
    ready = await client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["error"]["down"] == ["redis"]
    health = (await client.get("/healthz")).json()
    assert health["status"] == "degraded"
    assert health["dependencies"]["redis"]["status"] == "down"
    await proxy.up()
    try:
        assert (await client.get("/readyz")).status_code == 200
    finally:
        await proxy.down()
