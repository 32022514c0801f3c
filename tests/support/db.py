"""Direct database access for tests that check what was stored (not how it is served)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
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
