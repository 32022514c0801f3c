"""Fixtures: real PostgreSQL, Redis and SQLite; the app driven over ASGITransport.

Isolation: each xdist worker gets its own PostgreSQL database (migrated once) and Redis
database number; every test starts from empty tables (SQLite: a fresh copy of a migrated
file; PostgreSQL: all rows deleted before the test).
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import redis.asyncio as aioredis
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from sqlalchemy import delete, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from catalog.app import create_app
from catalog.db.engine import async_url
from catalog.db.migrate import upgrade
from catalog.db.models import Base
from catalog.server.resources import Resources
from catalog.settings import Settings
from tests.support.lifespan import resources_of as lifespan_resources
from tests.support.lifespan import started
from tests.support.loop_watch import LoopWatch
from tests.support.servers import Servers, resolve_servers
from tests.support.wait import until

DATABASES = ("sqlite", "postgresql")
# One line per test request from httpx's own logger would drown the service's log lines.
logging.getLogger("httpx").setLevel(logging.WARNING)


@pytest.fixture(scope="session", autouse=True)
async def loop_watch() -> AsyncIterator[None]:
    """Report (stacks on stderr) any stall of the session's event loop (support/loop_watch)."""
    watch = LoopWatch(asyncio.get_running_loop())
    watch.beat()
    watch.thread.start()
    yield
    watch.stopped.set()


@pytest.fixture(autouse=True)
def search_index_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test's apps keep their search index in a directory of the test's own (several apps
    of one test share it, as the workers of one host do; pass `search_index_dir` for another)."""
    directory = tmp_path / "search-index"
    monkeypatch.setenv("CATALOG_SEARCH_INDEX_DIR", str(directory))
    return directory


@pytest.fixture(scope="session")
def servers() -> Iterator[Servers]:
    try:
        found = resolve_servers()
    except Exception as exc:
        pytest.fail(f"the suite needs real PostgreSQL and Redis: {exc}", pytrace=False)
    yield found
    found.stop()


# Lets several test sessions share one PostgreSQL/Redis without touching each other's data.
NAMESPACE = "".join(c for c in os.environ.get("CATALOG_TEST_NAMESPACE", "") if c.isalnum())


@pytest.fixture(scope="session")
def worker_number(worker_id: str) -> int:
    return int(worker_id[2:]) if worker_id.startswith("gw") else 0


@pytest.fixture(scope="session")
async def postgres_url(servers: Servers, worker_number: int) -> str:
    """A database of this worker's own, migrated to head once per session."""
    admin = make_url(servers.database_url)
    name = f"catalog_test_{NAMESPACE}{worker_number}"
    connection = await asyncpg.connect(
        host=admin.host, port=admin.port, user=admin.username, database=admin.database
    )
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    url = admin.set(database=name).render_as_string(hide_password=False)
    await asyncio.to_thread(upgrade, url)
    return url


@pytest.fixture(scope="session")
async def postgres_engine(postgres_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(async_url(postgres_url))
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "catalog.db"
    upgrade(f"sqlite:///{path}")
    return path


async def empty_postgres(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            await connection.execute(delete(table))


@pytest.fixture
async def clean_postgres_url(postgres_url: str, postgres_engine: AsyncEngine) -> str:
    await empty_postgres(postgres_engine)
    return postgres_url


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    """A fresh migrated SQLite file; also for platform tests that need no second database."""
    copy = tmp_path / "catalog.db"
    shutil.copyfile(sqlite_template, copy)
    return f"sqlite:///{copy}"


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest) -> str:
    """The API suite runs once on SQLite and once on PostgreSQL.

    A plain fixture on purpose: it picks the async fixture of the chosen database lazily, so a
    SQLite run never needs PostgreSQL set up and vice versa.
    """
    name = "sqlite_url" if request.param == "sqlite" else "clean_postgres_url"
    url: str = request.getfixturevalue(name)
    return url


@pytest.fixture
async def redis_url(servers: Servers, worker_number: int) -> str:
    """This worker's Redis database, flushed before the test."""
    url = make_url(servers.redis_url)
    offset = sum(map(ord, NAMESPACE)) if NAMESPACE else 0
    own = str(url.set(database=str(1 + (worker_number + offset) % 15)))
    client = aioredis.Redis.from_url(own)
    await client.flushdb()
    await client.aclose()
    return own


def base_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "rate_limit_enabled": False,
        "log_level": "info",
    }
    values.update(overrides)
    return Settings(**values)


AppFactory = Callable[..., FastAPI]
ClientFactory = Callable[..., Awaitable[AsyncClient]]


@pytest.fixture
def make_settings(database_url: str) -> Callable[..., Settings]:
    return lambda **overrides: base_settings(database_url, **overrides)


@pytest.fixture
async def open_client() -> AsyncIterator[Callable[[FastAPI], Awaitable[AsyncClient]]]:
    """Start an app's lifespan and give an HTTP client for it; everything closes at the end."""
    stack: list[tuple[LifespanManager, AsyncClient]] = []

    async def opener(app: FastAPI, client_ip: str = "127.0.0.1") -> AsyncClient:
        manager = started(app)
        await manager.__aenter__()
        transport = ASGITransport(app=manager.app, client=(client_ip, 50000))
        client = AsyncClient(transport=transport, base_url="http://catalog.test")
        stack.append((manager, client))
        await search_index_built(lifespan_resources(manager))
        return client

    yield opener
    for manager, client in reversed(stack):
        await client.aclose()
        await manager.__aexit__(None, None, None)


async def search_index_built(resources: Resources, timeout_s: float = 60.0) -> None:
    """Wait (bounded) until the app's first search index exists, so a test's first search is
    not answered 503 while it is built (a catalog of 10k products took over 15 s to index on
    a loaded 2-core CI machine; the wait ends as soon as it exists). Watches the app's own
    state, not its HTTP surface (a probe request would be one more span, log line and metric
    sample in the test's counts); an app whose index cannot be built now (its database is
    down) is not waited for."""

    async def built_or_failing() -> bool:
        index_exists = resources.search_index.snapshot() is not None
        return index_exists or resources.search_projector.last_error is not None

    await until(built_or_failing, "the app's first search index being built", timeout_s, 0.01)


@pytest.fixture
async def client(
    make_settings: Callable[..., Settings],
    open_client: Callable[[FastAPI], Awaitable[AsyncClient]],
) -> AsyncClient:
    """The app on SQLite and on PostgreSQL (parametrized), default settings."""
    return await open_client(create_app(make_settings()))


@pytest.fixture
async def sqlite_client(
    sqlite_url: str, open_client: Callable[[FastAPI], Awaitable[AsyncClient]]
) -> AsyncClient:
    return await open_client(create_app(base_settings(sqlite_url)))


def pytest_report_header() -> list[str]:
    return [
        "databases: sqlite + "
        + (os.environ.get("CATALOG_TEST_DATABASE_URL") or "throwaway postgresql"),
        "redis: " + (os.environ.get("CATALOG_TEST_REDIS_URL") or "throwaway redis-server"),
    ]
