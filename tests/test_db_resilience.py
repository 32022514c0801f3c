"""Transient database errors retried around the whole request; pool limits answer 503 fast.

Every failure here is a real one from a real database (see tests/support/db_faults.py): a
PostgreSQL serialization failure, deadlock or terminated backend, a SQLite write lock held by
another connection, a pool with every connection checked out.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import pytest
import sqlalchemy.exc
from fastapi import FastAPI
from httpx import AsyncClient, Response
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from catalog.app import domain_routers
from catalog.core.errors import ServiceUnavailable
from catalog.core.retry import RetryBudget
from catalog.db import engine as db_engine
from catalog.db.engine import async_url, create_engine, pool_size_for
from catalog.db.transient import is_transient_db_error
from catalog.server.retrying_route import RetryingRoute
from catalog.settings import Settings
from tests.conftest import base_settings
from tests.support.api import error_of, ok, unique
from tests.support.db import query
from tests.support.db_faults import ATTEMPTS, HOLDING, app_with_db_faults
from tests.support.metrics import scrape, value
from tests.support.search import caught_up
from tests.support.servers import free_port
from tests.support.tcp_proxy import TcpProxy
from tests.support.wait import until

Opener = Callable[[FastAPI], Awaitable[AsyncClient]]
SQLITE_BUSY_TIMEOUT_MS = 200  # how long a SQLite writer waits for the lock before "locked"
RETRIES = "catalog_db_retries_total"


def dialect(url: str) -> str:
    return "sqlite" if url.startswith("sqlite") else "postgresql"


def conflict_fault(url: str) -> str:
    """The real conflict each database can produce on demand."""
    return "locked" if dialect(url) == "sqlite" else "serialization"


@pytest.fixture(autouse=True)
def short_sqlite_busy_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """Apps of these tests wait 200 ms (not 5 s) for SQLite's write lock before failing."""
    monkeypatch.setattr(db_engine, "SQLITE_BUSY_TIMEOUT_MS", SQLITE_BUSY_TIMEOUT_MS)


@pytest.fixture
async def faults(database_url: str, open_client: Opener) -> AsyncClient:
    return await open_client(app_with_db_faults(base_settings(database_url)))


@pytest.fixture
async def pg_faults(clean_postgres_url: str, open_client: Opener) -> AsyncClient:
    return await open_client(app_with_db_faults(base_settings(clean_postgres_url)))


async def fail(
    client: AsyncClient,
    fault: str,
    *,
    times: int,
    method: str = "GET",
    write: bool = False,
    headers: dict[str, str] | None = None,
) -> tuple[Response, str]:
    token = unique("fault")
    params: dict[str, Any] = {"token": token, "fault": fault, "times": times, "write": write}
    answer = await client.request(method, "/t/dbf/fail", params=params, headers=headers)
    return answer, token


class RetryMetrics:
    """Deltas of catalog_db_retries_total since construction."""

    def __init__(self, client: AsyncClient, before: dict[Any, float]) -> None:
        self.client = client
        self.before = before

    @classmethod
    async def start(cls, client: AsyncClient) -> RetryMetrics:
        return cls(client, await scrape(client))

    async def delta(self, kind: str, outcome: str) -> float:
        after = await scrape(self.client)
        labels = {"kind": kind, "outcome": outcome}
        return value(after, RETRIES, **labels) - value(self.before, RETRIES, **labels)


def assert_unavailable(answer: Response, details: str | None = None) -> dict[str, Any]:
    """A 503 envelope with Retry-After in the header and the body (never a 500)."""
    error = error_of(answer, 503)
    retry_after = Settings().unavailable_retry_after_s
    assert answer.headers["retry-after"] == str(retry_after)
    assert error["retry_after"] == retry_after
    if details is not None:
        assert error["details"] == details
    return error


# --- retried around the whole request --------------------------------------------------------


async def test_a_read_is_retried_until_the_conflict_is_gone(
    faults: AsyncClient, database_url: str
) -> None:
    metrics = await RetryMetrics.start(faults)
    answer, token = await fail(faults, conflict_fault(database_url), times=2)
    assert ok(answer) == {"attempts": 3}
    assert ATTEMPTS[token] == 3
    assert await metrics.delta("conflict", "retried") == 2
    assert await metrics.delta("conflict", "succeeded") == 1


async def test_a_post_is_retried_after_a_conflict_and_applied_once(
    faults: AsyncClient, database_url: str
) -> None:
    answer, token = await fail(
        faults, conflict_fault(database_url), times=2, method="POST", write=True
    )
    assert ok(answer) == {"attempts": 3}
    # Each failed attempt had inserted the tag too: rolled back, redone on a fresh session.
    rows = await query(database_url, "SELECT count(*) FROM tags WHERE name = :n", n=token)
    assert rows[0][0] == 1


async def test_exhausted_retries_answer_503_not_500(faults: AsyncClient, database_url: str) -> None:
    metrics = await RetryMetrics.start(faults)
    answer, token = await fail(faults, conflict_fault(database_url), times=100, method="POST")
    error = assert_unavailable(answer)
    assert "try again" in error["details"]
    assert ATTEMPTS[token] == 4  # the first attempt and the guide's 3 retries
    assert await metrics.delta("conflict", "retried") == 3
    assert await metrics.delta("conflict", "exhausted") == 1


async def test_a_deadlock_reported_by_postgresql_is_retried(pg_faults: AsyncClient) -> None:
    answer, _ = await fail(pg_faults, "deadlock", times=1, method="PATCH")
    assert ok(answer) == {"attempts": 2}


async def test_a_dropped_connection_is_retried_for_idempotent_methods(
    pg_faults: AsyncClient,
) -> None:
    metrics = await RetryMetrics.start(pg_faults)
    for method in ("GET", "PUT", "DELETE"):
        answer, _ = await fail(pg_faults, "terminate", times=1, method=method)
        assert ok(answer) == {"attempts": 2}, method
    assert await metrics.delta("connection", "retried") == 3
    assert await metrics.delta("connection", "succeeded") == 3


async def test_a_dropped_connection_is_not_retried_for_a_post_without_idempotency_key(
    pg_faults: AsyncClient, clean_postgres_url: str
) -> None:
    metrics = await RetryMetrics.start(pg_faults)
    for method in ("POST", "PATCH"):
        answer, token = await fail(pg_faults, "terminate", times=1, method=method, write=True)
        error = assert_unavailable(answer)
        assert "unknown" in error["details"]
        assert ATTEMPTS[token] == 1, method  # not run again: it might have been applied
        rows = await query(clean_postgres_url, "SELECT count(*) FROM tags WHERE name = :n", n=token)
        assert rows[0][0] == 0  # the connection died before COMMIT
    assert await metrics.delta("connection", "unsafe") == 2
    assert await metrics.delta("connection", "retried") == 0


async def test_a_dropped_connection_is_not_retried_for_a_post_even_with_idempotency_key(
    pg_faults: AsyncClient,
) -> None:
    """The key's record is written outside the request's transaction, so it cannot tell
    whether a COMMIT lost on the wire took effect: the server does not guess."""
    key = {"Idempotency-Key": unique("key")}
    answer, token = await fail(
        pg_faults, "terminate", times=1, method="POST", write=True, headers=key
    )
    assert "unknown" in assert_unavailable(answer)["details"]
    assert ATTEMPTS[token] == 1


async def test_a_post_is_retried_on_a_serialization_failure_without_idempotency_key(
    pg_faults: AsyncClient,
) -> None:
    answer, token = await fail(pg_faults, "serialization", times=1, method="POST", write=True)
    assert ok(answer) == {"attempts": 2}
    assert ATTEMPTS[token] == 2


async def test_the_retry_budget_stops_a_retry_storm(pg_faults: AsyncClient) -> None:
    metrics = await RetryMetrics.start(pg_faults)
    requests = 30
    answers = await asyncio.gather(
        *(fail(pg_faults, "serialization", times=1000) for _ in range(requests))
    )
    for answer, _ in answers:
        assert_unavailable(answer)
    retries = sum(ATTEMPTS[token] for _, token in answers) - requests
    budget = RetryBudget()
    # Unbudgeted, 30 failing requests would make 90 retries; the budget allows its floor plus
    # a fifth of first attempts.
    assert retries <= budget.floor + budget.ratio * requests
    assert await metrics.delta("conflict", "retried") == retries
    refused = await metrics.delta("conflict", "budget_exhausted")
    exhausted = await metrics.delta("conflict", "exhausted")
    assert refused + exhausted == requests
    assert exhausted * 3 <= retries  # most requests were refused a retry by the budget


async def test_a_real_deadlock_between_two_requests_resolves_by_retrying(
    pg_faults: AsyncClient, clean_postgres_url: str
) -> None:
    metrics = await RetryMetrics.start(pg_faults)
    a = ok(await pg_faults.post("/api/tags", json={"name": unique("tag-a")}), 201)["id"]
    b = ok(await pg_faults.post("/api/tags", json={"name": unique("tag-b")}), 201)["id"]
    token = unique("deadlock")
    # Each request locks one row, waits for the other to lock the other row, then asks for it.
    first, second = await asyncio.gather(
        pg_faults.post("/t/dbf/lock-pair", params={"token": token, "first": a, "second": b}),
        pg_faults.post("/t/dbf/lock-pair", params={"token": token, "first": b, "second": a}),
    )
    ok(first)
    ok(second)
    assert ATTEMPTS[token] == 3  # PostgreSQL aborted one of them once; its retry went through
    assert await metrics.delta("conflict", "retried") == 1
    counts = await query(
        clean_postgres_url, "SELECT usage_count FROM tags WHERE id IN (:a, :b)", a=a, b=b
    )
    assert [row[0] for row in counts] == [2, 2]  # both transactions applied, each once


def test_every_domain_route_retries_transient_database_errors() -> None:
    routes = [route for router in domain_routers() for route in router.routes]
    assert routes
    assert all(isinstance(route, RetryingRoute) for route in routes)


# --- pools -----------------------------------------------------------------------------------


async def test_an_exhausted_pool_answers_503_within_the_pool_timeout_then_recovers(
    database_url: str, open_client: Opener
) -> None:
    pool_timeout = 0.5
    # PostgreSQL: a pool of 1 + 1 overflow; SQLite keeps SQLAlchemy's 5 + 10.
    settings = base_settings(
        database_url,
        postgres_max_connections=2,
        db_pool_timeout_s=pool_timeout,
        search_poll_interval_s=60,  # the search index writer stays off the tiny pool
    )
    client = await open_client(app_with_db_faults(settings))
    await caught_up(client)  # its first round (and prune) done, the writer waits a minute
    await wait_for_checked_out(client, 0, at_most=True)
    capacity = 2 if dialect(database_url) == "postgresql" else 15
    holders = await hold_every_connection(client, capacity)
    metrics = await RetryMetrics.start(client)
    assert not any(holder.done() for holder in holders), "a holder ended before the test"

    started = time.monotonic()
    answer, token = await fail(client, "serialization", times=0)
    elapsed = time.monotonic() - started

    assert_unavailable(answer, "database connection pool exhausted")
    assert pool_timeout * 0.8 <= elapsed < pool_timeout + 1.5  # waited the timeout, no more
    assert ATTEMPTS[token] == 1  # not retried
    assert await metrics.delta("conflict", "retried") == 0
    assert await metrics.delta("connection", "retried") == 0

    for holder in holders:
        ok(await holder)
    answer, _ = await fail(client, "serialization", times=0)
    assert ok(answer) == {"attempts": 1}


async def hold_every_connection(client: AsyncClient, capacity: int) -> list[asyncio.Task[Response]]:
    """`capacity` requests each holding a pooled connection (for 8 s: long enough for the
    scrapes that follow, a 1.7 MB /metrics takes a second under load). A background task
    (the search index writer, the alert engine) holding a connection for a moment makes a
    holder time out waiting: it is replaced until all of them hold one."""
    holders: list[asyncio.Task[Response]] = []

    async def all_held() -> bool:
        if HOLDING["now"] >= capacity:
            return True
        holders[:] = [holder for holder in holders if not holder.done()]
        holders.extend(
            asyncio.create_task(client.get("/t/dbf/hold", params={"seconds": 8}))
            for _ in range(capacity - len(holders))
        )
        return False

    await until(all_held, lambda: f"{capacity} held (only {HOLDING['now']})", 30, 0.02)
    return holders


async def wait_for_checked_out(client: AsyncClient, count: int, at_most: bool = False) -> None:
    """Wait until at least (or, with `at_most`, at most) `count` connections are out."""

    async def reached() -> bool:
        out = value(await scrape(client), "catalog_db_pool_checked_out")
        return (out <= count) if at_most else (out >= count)

    await until(reached, f"the pool having {count} connections checked out", timeout_s=5)


def test_postgres_pool_is_sized_from_the_connection_ceiling_across_workers() -> None:
    for ceiling, workers in [(100, 1), (100, 4), (100, 3), (20, 8), (7, 7)]:
        settings = Settings(postgres_max_connections=ceiling, workers=workers)
        steady, overflow = pool_size_for(settings)
        assert steady >= 1
        assert (steady + overflow) * workers <= ceiling
        assert steady + overflow == ceiling // workers
    assert pool_size_for(Settings(postgres_max_connections=100, workers=4)) == (12, 13)


async def test_engines_ping_recycle_and_time_out(sqlite_url: str, postgres_url: str) -> None:
    for url in (postgres_url, sqlite_url):
        settings = base_settings(url, postgres_max_connections=40, workers=2, db_pool_timeout_s=1.5)
        engine = create_engine(settings)
        try:
            pool: Any = engine.sync_engine.pool
            assert pool._pre_ping is True
            assert pool._timeout == 1.5
            if dialect(url) == "postgresql":
                assert (pool.size(), pool._max_overflow) == (10, 10)
                assert pool._recycle == 1800
        finally:
            await engine.dispose()


# --- the classifier, on errors raised by real databases --------------------------------------


async def raised_by(engine: AsyncEngine, sql: str) -> BaseException:
    try:
        async with engine.begin() as connection:
            await connection.execute(text(sql))
    except Exception as exc:
        return exc
    raise AssertionError(f"{sql!r} did not fail")


def unavailable_from(cause: BaseException) -> ServiceUnavailable:
    """What deps.get_session raises for a socket error: `ServiceUnavailable(...) from cause`."""
    error = ServiceUnavailable("database unavailable", retry_after=5)
    error.__cause__ = cause
    return error


@pytest.fixture
async def pg_engine(postgres_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(async_url(postgres_url), pool_size=1, max_overflow=0)
    yield engine
    await engine.dispose()


async def test_classifier_on_postgresql_errors(pg_engine: AsyncEngine) -> None:
    raise_ = "DO $$ BEGIN RAISE EXCEPTION 'x' USING ERRCODE = '{}'; END $$"
    serialization = await raised_by(pg_engine, raise_.format("40001"))
    assert is_transient_db_error(serialization) == "conflict"
    assert is_transient_db_error(await raised_by(pg_engine, raise_.format("40P01"))) == "conflict"
    assert is_transient_db_error(await raised_by(pg_engine, raise_.format("08006"))) == "connection"
    terminated = await raised_by(pg_engine, "SELECT pg_terminate_backend(pg_backend_pid())")
    assert isinstance(terminated, sqlalchemy.exc.DBAPIError)
    assert is_transient_db_error(terminated) == "connection"
    # Wrapped the way the session dependency wraps socket errors: still seen.
    assert is_transient_db_error(unavailable_from(serialization)) == "conflict"

    for permanent in (
        "SELECT * FROM no_such_table",
        "SELECT 1/0",
        "DO $$ BEGIN RAISE EXCEPTION 'x' USING ERRCODE = '23505'; END $$",
        "SELEC 1",
    ):
        assert is_transient_db_error(await raised_by(pg_engine, permanent)) is None, permanent
    assert is_transient_db_error(ValueError("a bug")) is None


async def test_classifier_never_retries_pool_exhaustion(pg_engine: AsyncEngine) -> None:
    engine = create_async_engine(pg_engine.url, pool_size=1, max_overflow=0, pool_timeout=0.1)
    try:
        async with engine.connect():
            with pytest.raises(sqlalchemy.exc.TimeoutError) as caught:
                async with engine.connect():
                    pass
        assert is_transient_db_error(caught.value) is None
    finally:
        await engine.dispose()


async def test_classifier_on_connection_failures(postgres_url: str) -> None:
    url = make_url(postgres_url)
    closed_port = free_port()
    with pytest.raises(ConnectionRefusedError) as refused:
        await asyncpg.connect(host="127.0.0.1", port=closed_port, user=url.username)
    assert is_transient_db_error(refused.value) == "connection"
    assert is_transient_db_error(unavailable_from(refused.value)) == "connection"

    # A server that accepts but never answers: the connect timeout is not retried.
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    proxy.connect_delay = 5.0
    await proxy.up()
    try:
        with pytest.raises(TimeoutError) as timed_out:
            await asyncpg.connect(host="127.0.0.1", port=proxy.port, user=url.username, timeout=0.2)
    finally:
        await proxy.down()
    assert is_transient_db_error(timed_out.value) is None
    assert is_transient_db_error(unavailable_from(timed_out.value)) is None


async def test_classifier_on_sqlite_errors(sqlite_url: str) -> None:
    import sqlite3

    path = str(make_url(sqlite_url).database)
    engine = create_async_engine(async_url(sqlite_url), connect_args={"timeout": 0.05})
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        locked = await raised_by(engine, "INSERT INTO tags (id, name) VALUES ('x', 'x')")
        holder.rollback()
        assert "database is locked" in str(locked)
        assert is_transient_db_error(locked) == "conflict"
        duplicate = "INSERT INTO tags (id, name, category, description, usage_count) VALUES "
        duplicate += "('d', 'd', 'g', '', 0)"
        async with engine.begin() as connection:
            await connection.execute(text(duplicate))
        assert is_transient_db_error(await raised_by(engine, duplicate)) is None
        assert is_transient_db_error(await raised_by(engine, "SELECT * FROM nowhere")) is None
    finally:
        holder.close()
        await engine.dispose()
