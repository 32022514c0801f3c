"""All SQL of access requests."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, select, update

from catalog.core.time import utcnow
from catalog.db.models import AccessRequest, DataProduct
from catalog.kit.repository import Repository


class AccessRepository(Repository[AccessRequest]):
    model = AccessRequest

    def list_statement(
        self,
        *,
        status: str | None = None,
        product_id: str | None = None,
        requester: str | None = None,
    ) -> Select[Any]:
        """Oldest first: the order in which a steward works through the queue."""
        statement = select(AccessRequest).order_by(AccessRequest.requested_at, AccessRequest.id)
        for column, value in (
            (AccessRequest.status, status),
            (AccessRequest.product_id, product_id),
            (AccessRequest.requester, requester),
        ):
            if value is not None:
                statement = statement.where(column == value)
        return statement

    async def product_exists(self, product_id: str) -> bool:
        found = await self.session.scalar(
            select(DataProduct.id).where(DataProduct.id == product_id)
        )
        return found is not None

    async def pending_of(self, product_id: str, requester: str) -> str | None:
        """The id of the requester's pending request for the product, if any."""
        return await self.session.scalar(
            select(AccessRequest.id)
            .where(
                AccessRequest.product_id == product_id,
                AccessRequest.requester == requester,
                AccessRequest.status == "pending",
            )
            .limit(1)
        )

    async def move(
        self, request_id: str, from_status: str, to_status: str, **values: Any
    ) -> AccessRequest | None:
        """Change the status only if it still is `from_status`, in one UPDATE.

        The condition is checked by the database under the row's lock, so of two concurrent
        moves out of the same state exactly one matches; the other gets None.
        """
        statement = (
            update(AccessRequest)
            .where(AccessRequest.id == request_id, AccessRequest.status == from_status)
            .values(status=to_status, updated_at=utcnow(), **values)
            .returning(AccessRequest)
            .execution_options(synchronize_session=False, populate_existing=True)
        )
        return (await self.session.scalars(statement)).first()

    async def expiring(self, now: datetime, horizon: datetime, limit: int) -> list[Any]:
        """Granted requests whose access ends after `now` and by `horizon`, not announced yet,
        each with its product (rows another round holds are skipped on PostgreSQL)."""
        statement = (
            select(AccessRequest, DataProduct)
            .join(DataProduct, DataProduct.id == AccessRequest.product_id)
            .where(
                AccessRequest.status == "approved",
                AccessRequest.expires_at > now,
                AccessRequest.expires_at <= horizon,
                AccessRequest.expiry_noticed_at.is_(None),
            )
            .order_by(AccessRequest.expires_at)
            .limit(limit)
        )
        if self.dialect == "postgresql":
            statement = statement.with_for_update(of=AccessRequest, skip_locked=True)
        return list((await self.session.execute(statement)).all())
