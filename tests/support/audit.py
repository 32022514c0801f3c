"""Read the audit trail straight from the database (for tests of what a write recorded)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from catalog.db.engine import async_url
from catalog.db.models import AuditEvent


async def audit_actions(database_url: str, resource_id: str) -> list[str]:
    """The actions recorded on a resource, oldest first."""
    engine = create_async_engine(async_url(database_url))
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(
                select(AuditEvent.action)
                .where(AuditEvent.resource_id == resource_id)
                .order_by(AuditEvent.timestamp)
            )
            return [row.action for row in rows]
    finally:
        await engine.dispose()
