"""Schema: Alembic builds exactly the models on both databases, with the guide's indexes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from catalog.db.engine import async_url
from catalog.db.indexes import GUIDE_INDEXES as GUIDE
from catalog.db.migrate import alembic_config, head_revision, upgrade
from catalog.db.models import Base
from tests.conftest import NAMESPACE
from tests.support.servers import Servers

# The readiness guide's "Recommended Indexes" (defined once, in catalog.db.indexes):
# name -> (table, columns, unique).
GUIDE_INDEXES = {index.name: (index.table, list(index.columns), index.unique) for index in GUIDE}


@pytest.fixture(scope="module")
async def scratch_postgres(servers: Servers, worker_number: int) -> AsyncIterator[str]:
    """An empty database of its own, so migrating down and up disturbs no other test."""
    admin = make_url(servers.database_url)
    name = f"catalog_migrations_{NAMESPACE}{worker_number}"
    connection = await asyncpg.connect(
        host=admin.host, port=admin.port, user=admin.username, database=admin.database
    )
    await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await connection.execute(f'CREATE DATABASE "{name}"')
    yield admin.set(database=name).render_as_string(hide_password=False)
    await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await connection.close()


async def _schema_drift(engine: AsyncEngine) -> list[object]:
    async with engine.connect() as connection:
        return await connection.run_sync(
            lambda sync: compare_metadata(
                MigrationContext.configure(sync),
                Base.metadata,
            )
        )


async def _revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as connection:
        return await connection.run_sync(
            lambda sync: MigrationContext.configure(sync).get_current_revision()
        )


async def test_migrations_match_models_on_sqlite(sqlite_url: str) -> None:
    engine = create_async_engine(async_url(sqlite_url))
    try:
        assert await _schema_drift(engine) == []
        assert await _revision(engine) == head_revision()
    finally:
        await engine.dispose()


async def test_migrations_match_models_on_postgresql(postgres_engine: AsyncEngine) -> None:
    assert await _schema_drift(postgres_engine) == []
    assert await _revision(postgres_engine) == head_revision()


async def test_guide_indexes_exist_in_live_postgresql(postgres_engine: AsyncEngine) -> None:
    async with postgres_engine.connect() as connection:
        rows = (
            await connection.execute(
                text(
                    """
                    SELECT i.relname AS index_name, t.relname AS table_name, ix.indisunique,
                           array_agg(a.attname ORDER BY k.ord) AS columns
                    FROM pg_index ix
                    JOIN pg_class i ON i.oid = ix.indexrelid
                    JOIN pg_class t ON t.oid = ix.indrelid
                    JOIN pg_namespace n ON n.oid = t.relnamespace AND n.nspname = 'public'
                    CROSS JOIN LATERAL unnest(ix.indkey) WITH ORDINALITY AS k(attnum, ord)
                    JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
                    GROUP BY i.relname, t.relname, ix.indisunique
                    """
                )
            )
        ).all()
    live = {row.index_name: (row.table_name, list(row.columns), row.indisunique) for row in rows}
    for name, expected in GUIDE_INDEXES.items():
        assert live.get(name) == expected, name


async def _down_and_up(url: str) -> None:
    await asyncio.to_thread(upgrade, url)
    await asyncio.to_thread(command.downgrade, alembic_config(url), "base")
    engine = create_async_engine(async_url(url))
    try:
        async with engine.connect() as connection:
            tables = await connection.run_sync(lambda sync: sync.dialect.get_table_names(sync))
        assert set(tables) <= {"alembic_version"}
        await asyncio.to_thread(upgrade, url)
        assert await _schema_drift(engine) == []
    finally:
        await engine.dispose()


async def test_full_downgrade_and_upgrade_on_sqlite(tmp_path: Path) -> None:
    await _down_and_up(f"sqlite:///{tmp_path}/down-up.db")


async def test_full_downgrade_and_upgrade_on_postgresql(scratch_postgres: str) -> None:
    await _down_and_up(scratch_postgres)
