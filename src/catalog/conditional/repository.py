"""The SQL of preconditions: lock the row an `If-Match` is checked against."""

from __future__ import annotations

from sqlalchemy import inspect, select
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.db.models import Base


async def lock_and_refresh(session: AsyncSession, obj: Base) -> bool:
    """Lock `obj`'s row (`SELECT ... FOR UPDATE`) and re-read its columns; False when the row
    is gone. Columns only: relationships loaded by the caller (lazy="raise") stay as they are.
    """
    mapper = inspect(obj).mapper
    key = mapper.primary_key_from_instance(obj)
    locked = await session.scalar(
        select(*mapper.primary_key)
        .where(*(column == value for column, value in zip(mapper.primary_key, key, strict=True)))
        .with_for_update()
    )
    if locked is None:
        return False
    await session.refresh(obj, attribute_names=[attr.key for attr in mapper.column_attrs])
    return True
