"""Business rules of API keys.

A key is created for a name unique among active keys (a revoked or expired key's name may be
used again), with a role, an optional team, scopes and expiry. The secret is generated here,
answered once and stored only as its SHA-256 (see `catalog.apikeys.keys`). Revoking
is final and immediate: one conditional UPDATE, so a second revocation is a 409. Audit events
of creations and revocations never contain the key or its hash.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from catalog.apikeys import schemas
from catalog.apikeys.keys import generate_key
from catalog.apikeys.repository import ApiKeyRepository
from catalog.core.errors import Conflict
from catalog.core.time import utcnow
from catalog.db.models import ApiKey
from catalog.identity.principal import Actor
from catalog.kit.pagination import PageParams
from catalog.kit.rows import row_dict
from catalog.kit.service import DomainService, must_exist

KIND = "api_key"
SECRET_COLUMNS = ("key_hash",)


def audit_view(key: ApiKey) -> dict[str, Any]:
    """The key's row for an audit event: everything but its hash."""
    return row_dict(key, exclude=SECRET_COLUMNS)


class ApiKeyService(DomainService):
    def __init__(self, session: AsyncSession, actor: Actor) -> None:
        super().__init__(session, actor)
        self.keys = ApiKeyRepository(session)

    async def create(self, body: schemas.ApiKeyCreate) -> schemas.ApiKeyCreated:
        now = utcnow()
        await self.keys.lock_name(body.name)
        existing = await self.keys.active_named(body.name, now)
        if existing is not None:
            raise Conflict(f"an active API key named {body.name!r} already exists ({existing})")
        secret, prefix, key_hash = generate_key()
        key = await self.keys.add(
            ApiKey(
                name=body.name,
                prefix=prefix,
                key_hash=key_hash,
                role=body.role,
                team=body.team,
                scopes=body.scopes,
                created_by=self.actor.subject,
                created_at=now,
                expires_at=body.expires_at,
            )
        )
        self.audit.record("create", KIND, key.id, after=audit_view(key))
        fields = schemas.ApiKeyCreated.model_fields
        values = {name: getattr(key, name) for name in fields if name != "key"}
        return schemas.ApiKeyCreated(key=secret, **values)

    async def get(self, key_id: str) -> ApiKey:
        return must_exist(await self.keys.get(key_id), "API key", key_id)

    async def list_keys(self, page: PageParams, status: str | None) -> tuple[Sequence[ApiKey], int]:
        statement = self.keys.list_statement(status=status, now=utcnow())
        return await self.keys.paginate(statement, page.limit, page.offset)

    async def revoke(self, key_id: str) -> None:
        key = await self.keys.revoke(key_id, utcnow())
        if key is None:
            current = await self.get(key_id)
            raise Conflict(f"API key {current.name!r} ({key_id}) is already revoked")
        self.audit.record(
            "revoke", KIND, key.id, before={"revoked_at": None}, after=audit_view(key)
        )
