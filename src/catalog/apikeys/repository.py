"""All SQL of API keys: the admin routes' and the per-request check's (`verify`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row, Select, false, func, literal, or_, select, update

from catalog.db.models import ApiKey
from catalog.kit.repository import Repository

# What checking a key reads: id, name, role, team, revoked_at, expires_at, last_used_at.
Credential = Row[str, str, str, str | None, datetime | None, datetime | None, datetime | None]

# First key of the PostgreSQL advisory locks that serialise creations of one key name.
NAME_LOCK_KEY = 0xA91


def _active(now: datetime) -> Any:
    return (ApiKey.revoked_at.is_(None)) & (
        or_(ApiKey.expires_at.is_(None), ApiKey.expires_at > now)
    )


class ApiKeyRepository(Repository[ApiKey]):
    model = ApiKey

    def list_statement(self, *, status: str | None, now: datetime) -> Select[Any]:
        """Newest first."""
        statement = select(ApiKey).order_by(ApiKey.created_at.desc(), ApiKey.id.desc())
        if status == "active":
            statement = statement.where(_active(now))
        elif status == "revoked":
            statement = statement.where(ApiKey.revoked_at.is_not(None))
        elif status == "expired":
            statement = statement.where(
                ApiKey.revoked_at.is_(None),
                ApiKey.expires_at.is_not(None),
                ApiKey.expires_at <= now,
            )
        elif status is not None:
            statement = statement.where(false())
        return statement

    async def lock_name(self, name: str) -> None:
        """Serialise creations of keys named `name`, so two cannot both pass the check.

        PostgreSQL: a transaction-scoped advisory lock on the name's hash (other names do not
        wait). SQLite: nothing to do, write transactions already run one at a time.
        """
        if self.dialect == "postgresql":
            await self.session.execute(
                select(func.pg_advisory_xact_lock(literal(NAME_LOCK_KEY), func.hashtext(name)))
            )

    async def active_named(self, name: str, now: datetime) -> str | None:
        """The id of an active key named `name`, if any."""
        return await self.session.scalar(
            select(ApiKey.id).where(ApiKey.name == name, _active(now)).limit(1)
        )

    async def revoke(self, key_id: str, now: datetime) -> ApiKey | None:
        """Set `revoked_at` if still unset, in one UPDATE; None when it was already revoked
        or there is no such key (of two concurrent revocations exactly one gets the row)."""
        statement = (
            update(ApiKey)
            .where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None))
            .values(revoked_at=now)
            .returning(ApiKey)
            .execution_options(synchronize_session=False, populate_existing=True)
        )
        return (await self.session.scalars(statement)).first()

    async def credential(self, key_hash: str) -> Credential | None:
        """What checking a key needs of the row with this hash, if any: no ORM object."""
        result = await self.session.execute(
            select(
                ApiKey.id,
                ApiKey.name,
                ApiKey.role,
                ApiKey.team,
                ApiKey.revoked_at,
                ApiKey.expires_at,
                ApiKey.last_used_at,
            ).where(ApiKey.key_hash == key_hash)
        )
        return result.first()

    async def touch_last_used(self, key_id: str, now: datetime, threshold: datetime) -> None:
        """Set `last_used_at` to `now` unless it is already `threshold` or later."""
        # Conditional in SQL too: of concurrent requests that all saw a stale value, one writes.
        await self.session.execute(
            update(ApiKey)
            .where(
                ApiKey.id == key_id,
                or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at < threshold),
            )
            .values(last_used_at=now)
            .execution_options(synchronize_session=False)
        )
