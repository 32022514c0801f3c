"""What the lifespan opens and closes: database engine, sessions, Redis.

Opening never waits on a dependency: a database or Redis that is down at start leaves the
service running, `/readyz` red and requests answered 503 until it comes back.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from tenacity import AsyncRetrying, RetryCallState

from catalog.alerting.engine import AlertEngine
from catalog.apikeys.verify import ApiKeyVerifier
from catalog.cache import Cache, open_cache
from catalog.core.breaker import CircuitBreaker
from catalog.core.clock import Clock, SystemClock
from catalog.core.logging import get_logger
from catalog.core.retry import Backoff, RetryBudget
from catalog.db.engine import WRITE, create_engine, session_factory
from catalog.db.pool_metrics import instrument_pool
from catalog.discover.history import SearchHistoryRecorder
from catalog.graph import open_graph_store
from catalog.graph.store import GraphStore
from catalog.graph.worker import OutboxWorker
from catalog.idempotency.store import IdempotencyStore
from catalog.identity.authenticator import Authenticator
from catalog.ingest.runner import IngestionRunner
from catalog.notify.dispatcher import Dispatcher
from catalog.observability.metrics import flush_observations, flush_periodically
from catalog.observability.tracing import instrument_engine, instrument_redis
from catalog.openlineage.applier import LineageApplier
from catalog.ratelimit.limiter import RateLimiter
from catalog.ratelimit.local import LocalBuckets
from catalog.ratelimit.policy import Policy
from catalog.ratelimit.redis_buckets import RedisBuckets
from catalog.search.directory import IndexDirectory, default_root
from catalog.search.index import Expected, SearchIndex
from catalog.search.projector import SearchProjector
from catalog.server.health import check_dependencies
from catalog.server.ui_session import SessionCodec
from catalog.settings import Settings

log = get_logger(__name__)


@dataclass
class Resources:
    settings: Settings
    engine: AsyncEngine
    read_sessions: async_sessionmaker[Any]
    write_sessions: async_sessionmaker[Any]
    redis: aioredis.Redis | None
    search_history: SearchHistoryRecorder
    rate_limiter: RateLimiter
    authenticator: Authenticator
    alerts: AlertEngine
    idempotency: IdempotencyStore
    cache: Cache
    graph: GraphStore
    # Projects the change log into a Neo4j/FalkorDB store; None with the `sql` store. Its
    # `graph` circuit breaker guards every call into the graph database, API reads included.
    graph_worker: OutboxWorker | None
    # This process's view of the search index, and its part in writing it (search/).
    search_index: SearchIndex
    search_projector: SearchProjector
    # The web UI's signed cookies (server/ui_session.py).
    ui_sessions: SessionCodec
    # Applies kept OpenLineage events to the catalog (openlineage/applier.py).
    lineage_applier: LineageApplier
    # Crawls started by POST /api/ingestion/runs, in the background (ingest/runner.py).
    ingestion: IngestionRunner
    # Fans catalog events out to subscriptions and delivers them (notify/dispatcher.py).
    notifications: Dispatcher
    # The time every part above reads (core/clock.py); tests pass one they can move.
    clock: Clock = field(default_factory=SystemClock)
    # Retries of requests after transient database errors (server/retrying_route.py).
    db_retry_budget: RetryBudget = field(default_factory=RetryBudget)
    started_at: float = field(default_factory=time.time)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def start(self) -> None:
        """Start the background work (call inside the running event loop)."""
        self.search_history.start()
        self.alerts.start()
        self.idempotency.start()
        self.search_projector.start()
        self.lineage_applier.start()
        self.notifications.start()
        if self.graph_worker is not None:
            self.graph_worker.start()
            self._tasks.append(asyncio.create_task(_ensure_indexes(self.graph), name="graph-init"))
        self._tasks.append(asyncio.create_task(flush_periodically(), name="metrics-flush"))
        if self.redis is not None:
            # Open a connection now, so the first requests do not pay for it within the
            # rate limiter's and the cache's short timeouts.
            self._tasks.append(asyncio.create_task(_warm_up(self.redis), name="redis-warm-up"))

    def breakers(self) -> dict[str, CircuitBreaker]:
        """This app's circuit breakers by dependency name (/healthz): each part owns its
        own, so two apps in one process never share one."""
        found = [
            self.rate_limiter.breaker,
            *self.alerts.breakers.values(),
            *self.notifications.breakers.values(),
        ]
        if self.cache.breaker is not None:
            found.append(self.cache.breaker)
        if self.graph_worker is not None:
            found.append(self.graph_worker.breaker)
        if self.authenticator.jwt is not None:
            found.append(self.authenticator.jwt.breaker)
        return {breaker.name: breaker for breaker in found}

    def changes_committed(self) -> None:
        """A transaction of this process appended to the change log: project it now."""
        self.search_projector.wake()
        self.notifications.wake()  # it may have appended catalog events (changes/events.py)
        if self.graph_worker is not None:
            self.graph_worker.wake()

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        flush_observations()
        await self.alerts.stop()
        await self.idempotency.stop()
        await self.lineage_applier.stop()
        await self.notifications.stop()
        await self.ingestion.stop()
        if self.graph_worker is not None:
            await self.graph_worker.stop()
        await self.search_projector.stop()
        self.search_index.close()
        await self.graph.close()
        await self.cache.close()
        await self.search_history.stop()  # drains queued history while the DB is still open
        await self.authenticator.aclose()
        if self.redis is not None:
            await self.redis.aclose()
        await self.engine.dispose()


async def _warm_up(redis: aioredis.Redis) -> None:
    with contextlib.suppress(Exception):  # down at start: /readyz says so, requests fall back
        await redis.ping()


GRAPH_INDEXES_BACKOFF = Backoff(1.0, 60.0)


async def _ensure_indexes(graph: GraphStore) -> None:
    """The guide's graph indexes, created at start in the background: a graph database that
    is down at start must not hold the service up, so this tries again (1 s doubling to a
    minute apart) until it gets through (`catalog graph init` does the same by hand)."""

    def failed(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.warning("graph_indexes_not_created", store=graph.name, error=repr(exc)[:300])

    # Any Exception is retried, forever; a cancel (shutdown) ends it.
    retrying = AsyncRetrying(
        wait=GRAPH_INDEXES_BACKOFF.wait, before_sleep=failed, sleep=asyncio.sleep
    )
    created: list[str] = await retrying(graph.ensure_indexes)
    log.info("graph_indexes_ensured", store=graph.name, created=len(created))


def open_redis(settings: Settings) -> aioredis.Redis | None:
    if not settings.redis_url:
        return None
    timeout = settings.dependency_timeout_s
    # A bounded pool that makes callers wait for a free connection: a burst of requests then
    # shares a few warm connections instead of opening one each (a cold burst of 100 took
    # ~400 ms to connect here, against ~50 ms through 16 connections).
    pool = aioredis.BlockingConnectionPool.from_url(
        settings.redis_url,
        max_connections=settings.redis_max_connections,
        timeout=timeout,
        socket_connect_timeout=timeout,
        socket_timeout=timeout,
        health_check_interval=30,
    )
    return aioredis.Redis.from_pool(pool)


def open_rate_limiter(
    settings: Settings, redis: aioredis.Redis | None, clock: Clock | None = None
) -> RateLimiter:
    clock = clock or SystemClock()
    return RateLimiter(
        LocalBuckets(max_keys=settings.rate_limit_max_keys, clock=clock.monotonic),
        RedisBuckets(redis) if redis is not None else None,
        timeout_s=settings.rate_limit_redis_timeout_ms / 1000,
        cooldown_s=settings.rate_limit_redis_cooldown_s,
        idle_after_s=Policy(settings).longest_window_s,
        clock=clock.monotonic,
    )


def open_resources(settings: Settings, clock: Clock | None = None) -> Resources:
    clock = clock or SystemClock()
    engine = create_engine(settings)
    instrument_pool(engine)
    redis = open_redis(settings)
    if settings.otel_exporter_otlp_endpoint:
        instrument_engine(engine)
        if redis is not None:
            instrument_redis(redis)
    read_sessions = session_factory(engine)
    graph = open_graph_store(settings, read_sessions)
    write_sessions = session_factory(engine.execution_options(**WRITE))
    search_index = SearchIndex(IndexDirectory(default_root(settings)), Expected.of(settings))
    cache = open_cache(settings, redis, clock)
    resources = Resources(
        settings=settings,
        engine=engine,
        read_sessions=read_sessions,
        write_sessions=write_sessions,
        redis=redis,
        rate_limiter=open_rate_limiter(settings, redis, clock),
        authenticator=Authenticator(
            settings, ApiKeyVerifier(read_sessions, write_sessions), clock=clock
        ),
        alerts=AlertEngine(settings, write_sessions, clock=clock),
        idempotency=IdempotencyStore(
            write_sessions,
            ttl_s=settings.idempotency_ttl_s,
            lock_timeout_s=settings.idempotency_lock_timeout_s,
            clock=clock,
        ),
        cache=cache,
        graph=graph,
        graph_worker=OutboxWorker.configured(
            graph,
            write_sessions,
            settings,
            postgres=engine.dialect.name == "postgresql",
            read_sessions=read_sessions,
            clock=clock,
        )
        if graph.projected
        else None,
        search_index=search_index,
        ui_sessions=SessionCodec(settings, clock),
        ingestion=IngestionRunner(write_sessions, cache.retire, clock),
        lineage_applier=LineageApplier.configured(
            write_sessions,
            settings,
            postgres=engine.dialect.name == "postgresql",
            changes_committed=lambda: None,  # below, once `resources` exists
            clock=clock,
            read_sessions=read_sessions,
        ),
        notifications=Dispatcher(
            settings,
            write_sessions,
            read_sessions=read_sessions,
            postgres=engine.dialect.name == "postgresql",
            clock=clock,
        ),
        search_projector=SearchProjector(
            search_index.directory,
            search_index,
            read_sessions=read_sessions,
            write_sessions=write_sessions,
            settings=settings,
        ),
        search_history=SearchHistoryRecorder(
            write_sessions,
            queue_size=settings.search_history_queue_size,
            flush_interval_s=settings.search_history_flush_interval_s,
            retention_days=settings.search_history_retention_days,
            prune_interval_s=settings.search_history_prune_interval_s,
        ),
        clock=clock,
    )
    resources.alerts.down_dependencies = lambda: down_dependencies(resources)
    resources.lineage_applier.changes_committed = resources.changes_committed
    resources.notifications.changes_committed = resources.changes_committed
    resources.ingestion.committed = resources.changes_committed
    return resources


async def down_dependencies(resources: Resources) -> list[str]:
    results = await check_dependencies(
        resources.engine, resources.redis, resources.settings.dependency_timeout_s
    )
    return sorted(name for name, result in results.items() if result["status"] != "up")
