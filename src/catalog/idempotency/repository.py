"""All SQL of idempotency keys: the `idempotency_keys` table, one row per (principal, key).

store.py decides what a row means (claim, take over, replay, release, prune) and runs each
step in its own short transaction; these are the statements it runs, each on the session it
is given. `mark_committed` is the one that runs in the request's own transaction instead.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.core.time import utcnow
from catalog.db.models import IdempotencyKey
from catalog.kit.repository import Repository, table_of


class IdempotencyRepository(Repository[IdempotencyKey]):
    model = IdempotencyKey

    def __init__(self, session: AsyncSession, now: Callable[[], datetime] = utcnow) -> None:
        super().__init__(session)
        self.now = now  # the store's clock: expiry is what tests move instead of sleeping

    async def insert_processing(
        self,
        attempt_id: str,
        ttl: timedelta,
        *,
        scope: str,
        key: str,
        method: str,
        path: str,
        fingerprint: str,
    ) -> bool:
        """Insert the `processing` row unless the key exists; whether it was inserted."""
        table = table_of(IdempotencyKey)
        now = self.now()
        statement = (
            self.insert(table)
            .values(
                id=attempt_id,
                scope=scope,
                idempotency_key=key,
                method=method,
                path=path,
                fingerprint=fingerprint,
                state="processing",
                created_at=now,
                expires_at=now + ttl,
            )
            .on_conflict_do_nothing(index_elements=["scope", "idempotency_key"])
            .returning(table.c.id)
        )
        return (await self.session.execute(statement)).first() is not None

    async def find(self, scope: str, key: str) -> IdempotencyKey | None:
        statement = select(IdempotencyKey).where(
            IdempotencyKey.scope == scope, IdempotencyKey.idempotency_key == key
        )
        return (await self.session.scalars(statement)).first()

    async def delete_attempt(self, attempt_id: str, *, uncommitted_only: bool = False) -> bool:
        statement = delete(IdempotencyKey).where(IdempotencyKey.id == attempt_id)
        if uncommitted_only:
            statement = statement.where(IdempotencyKey.committed_at.is_(None))
        result: Any = await self.session.execute(statement)
        return bool(result.rowcount)

    async def complete(
        self, attempt_id: str, status: int, headers: dict[str, str], body: bytes, ttl: timedelta
    ) -> bool:
        result: Any = await self.session.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.id == attempt_id, IdempotencyKey.state == "processing")
            .values(
                state="completed",
                response_status=status,
                response_headers=headers,
                response_body=body,
                expires_at=self.now() + ttl,
            )
        )
        return bool(result.rowcount)

    async def mark_committed(self, attempt_id: str) -> None:
        """Stamp `committed_at` (by the wall clock: it records when, it decides no expiry)."""
        await self.session.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.id == attempt_id)
            .values(committed_at=utcnow())
        )

    async def delete_expired(self, limit: int) -> int:
        expired = (
            select(IdempotencyKey.id).where(IdempotencyKey.expires_at < self.now()).limit(limit)
        )
        result: Any = await self.session.execute(
            delete(IdempotencyKey).where(IdempotencyKey.id.in_(expired.scalar_subquery()))
        )
        return int(result.rowcount or 0)
