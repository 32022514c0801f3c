"""Direct database access for tests that check what was stored (not how it is served)."""

from __future__ import annotations

from typing import Any

import asyncpg
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine

from catalog.db.engine import async_url


async def query(database_url: str, sql: str, **params: Any) -> list[Any]:
    engine = create_async_engine(async_url(database_url))
    try:
        async with engine.connect() as connection:
            return list((await connection.execute(text(sql), params)).all())
    finally:
        await engine.dispose()


async def execute(database_url: str, sql: str, **params: Any) -> None:
    engine = create_async_engine(async_url(database_url))
    try:
        async with engine.begin() as connection:
            await connection.execute(text(sql), params)
    finally:
        await engine.dispose()


async def raw_connection(database_url: str) -> asyncpg.Connection:
    """A plain asyncpg connection (for DDL a test runs on a PostgreSQL it reads from)."""
    url = make_url(database_url)
    return await asyncpg.connect(
        host=url.host,
        port=url.port,
        user=url.username,
        password=url.password,
        database=url.database,
    )
