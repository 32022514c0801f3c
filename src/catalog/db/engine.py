"""Engine and session factory for PostgreSQL (asyncpg) and SQLite (aiosqlite).

SQLite notes: WAL lets readers run beside one writer; foreign keys are off unless asked for;
and a write transaction starts with `BEGIN IMMEDIATE` so two writers queue on the busy timeout
instead of one failing with "database is locked" when it upgrades its read lock.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from catalog.settings import Settings

SQLITE_BUSY_TIMEOUT_MS = 5000
SQLITE_MMAP_BYTES = 1 << 30
SQLITE_CACHE_KIB = 32 * 1024
WRITE = {"catalog_write": True}


def async_url(database_url: str) -> URL:
    url = make_url(database_url)
    if url.drivername in {"postgresql", "postgres", "postgresql+psycopg", "postgresql+psycopg2"}:
        return url.set(drivername="postgresql+asyncpg")
    if url.drivername == "sqlite":
        return url.set(drivername="sqlite+aiosqlite")
    return url


def pool_size_for(settings: Settings) -> tuple[int, int]:
    """(pool_size, max_overflow) per worker so all workers together stay under the ceiling.

    Each of N workers holds at most floor(POSTGRES_MAX_CONNECTIONS / N) connections: a steady
    pool of half of that and the other half as overflow that is closed when idle.
    """
    per_worker = max(1, settings.postgres_max_connections // settings.workers)
    steady = max(1, per_worker // 2)
    return steady, per_worker - steady


def create_engine(settings: Settings, *, echo: bool = False) -> AsyncEngine:
    url = async_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        engine = create_async_engine(
            url,
            echo=echo,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            pool_pre_ping=True,
            # The default pool (5 + 10 overflow) would make a request wait 30 s for a connection.
            pool_timeout=settings.db_pool_timeout_s,
        )
        _configure_sqlite(engine)
        return engine
    pool_size, max_overflow = pool_size_for(settings)
    return create_async_engine(
        url,
        echo=echo,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=settings.db_pool_timeout_s,
        pool_pre_ping=True,
        pool_recycle=1800,
        connect_args={
            "timeout": settings.db_connect_timeout_s,
            "server_settings": {
                "application_name": "catalog",
                # pg_trgm's `%` and `<%` thresholds, for typo-tolerant search and typeahead
                "pg_trgm.similarity_threshold": "0.3",
                "pg_trgm.word_similarity_threshold": "0.45",
            },
        },
    )


def _configure_sqlite(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin (see "begin" below).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        # Each connection has its own page cache (2 MB by default): with a pool of them over
        # a large file, reads would go to the OS on every query. Memory-map the file instead
        # (shared by all connections) and give each a larger cache for what is not mapped.
        cursor.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}")
        cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        write = connection.get_execution_options().get("catalog_write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def session_factory(engine: AsyncEngine) -> async_sessionmaker[Any]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
