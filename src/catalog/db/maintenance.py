"""`catalog db analyze` and `catalog db reindex`: planner statistics and index rebuilds.

PostgreSQL runs both outside a transaction (autocommit): `REINDEX DATABASE` and
`REINDEX ... CONCURRENTLY` refuse to run inside one. A plain reindex locks each table against
writes while its indexes are rebuilt; `--concurrently` rebuilds one index at a time with
`REINDEX INDEX CONCURRENTLY`, which lets reads and writes go on, takes longer, and on failure
leaves an invalid `*_ccnew` index behind (listed as invalid by `catalog db indexes`; drop it
and run again). SQLite's `ANALYZE` and `REINDEX` take the database's write lock for their
duration; they have no concurrent variant.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine


@dataclass
class Outcome:
    target: str
    seconds: float
    error: str | None = None


def quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def _timed(connection: AsyncConnection, target: str, sql: str) -> Outcome:
    started = time.perf_counter()
    try:
        await connection.exec_driver_sql(sql)
    except Exception as exc:  # one index failing must not stop the others; it is reported
        cause = getattr(exc, "orig", None) or exc  # the driver's error, not SQLAlchemy's wrap
        message = (str(cause).splitlines() or [""])[0]
        return Outcome(target, time.perf_counter() - started, message or type(cause).__name__)
    return Outcome(target, time.perf_counter() - started)


def _autocommit(engine: AsyncEngine) -> AsyncEngine:
    if engine.dialect.name == "postgresql":
        return engine.execution_options(isolation_level="AUTOCOMMIT")
    return engine


async def analyze(engine: AsyncEngine) -> Outcome:
    """Refresh the planner's statistics of every table."""
    async with _autocommit(engine).begin() as connection:
        return await _timed(connection, "database", "ANALYZE")


async def _schema_indexes(connection: AsyncConnection) -> list[str]:
    rows = await connection.execute(
        text(
            "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() "
            "ORDER BY tablename, indexname"
        )
    )
    return list(rows.scalars())


async def reindex(
    engine: AsyncEngine, *, concurrently: bool = False, indexes: list[str] | None = None
) -> list[Outcome]:
    """Rebuild the named indexes, or all of them; one outcome per statement run."""
    async with _autocommit(engine).begin() as connection:
        if engine.dialect.name != "postgresql":
            # SQLite has no concurrent rebuild; `REINDEX` alone rebuilds every index.
            targets = indexes or [""]
            return [
                await _timed(connection, name or "database", f"REINDEX {quote_identifier(name)}")
                if name
                else await _timed(connection, "database", "REINDEX")
                for name in targets
            ]
        if not concurrently and not indexes:
            database = (await connection.execute(text("SELECT current_database()"))).scalar_one()
            return [
                await _timed(
                    connection, "database", f"REINDEX DATABASE {quote_identifier(database)}"
                )
            ]
        names = indexes or await _schema_indexes(connection)
        keyword = "CONCURRENTLY " if concurrently else ""
        return [
            await _timed(connection, name, f"REINDEX INDEX {keyword}{quote_identifier(name)}")
            for name in names
        ]
