"""Base of domain services: the session, the caller, the audit trail, and the common moves.

Services hold the business rules. They flush (never commit: the request's session dependency
does), record an audit event for every write, and raise `CatalogError`s.
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from catalog.core.errors import Conflict, NotFound
from catalog.db.models import Base
from catalog.identity.principal import Actor
from catalog.kit.audit_trail import AuditTrail
from catalog.kit.repository import Repository
from catalog.kit.rows import row_dict

R = TypeVar("R", bound=Base)
T = TypeVar("T")


def must_exist(row: T | None, kind: str, key: object) -> T:
    """`row`, or a 404 naming what was looked for: every service's "get it or say not found"."""
    if row is None:
        raise NotFound(kind, key)
    return row


class DomainService:
    def __init__(self, session: AsyncSession, actor: Actor) -> None:
        self.session = session
        self.actor = actor
        self.audit = AuditTrail(session, actor)

    async def _name_free(
        self, repo: Repository[Any], kind: str, name: str | None, current: str | None = None
    ) -> None:
        """Names are unique per kind: a new or changed name must not be taken (409)."""
        if name is not None and name != current and await repo.get_by(name=name):
            raise Conflict(f"a {kind} named {name!r} already exists")

    async def _update(self, kind: str, obj: R, changes: dict[str, Any]) -> R:
        if not changes:
            return obj
        before = row_dict(obj)
        for field, value in changes.items():
            setattr(obj, field, value)
        await self.session.flush()
        self.audit.record(
            "update", kind, getattr(obj, "id", None), before=before, after=row_dict(obj)
        )
        return obj

    async def _delete(self, kind: str, obj: Base) -> None:
        before = row_dict(obj)
        await self.session.delete(obj)
        await self.session.flush()
        self.audit.record("delete", kind, getattr(obj, "id", None), before=before)
