"""Usage of data products: views (telemetry) and ratings (one per user, updatable)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from catalog.core.errors import NotFound
from catalog.core.time import utcnow
from catalog.identity.principal import Actor
from catalog.kit.service import DomainService
from catalog.products.visibility import visible_product
from catalog.usage import schemas
from catalog.usage.repository import UsageRepository

# A missing rating row after losing an insert race means the product went away meanwhile.
RATING_ATTEMPTS = 3


class UsageService(DomainService):
    def __init__(self, session: AsyncSession, actor: Actor) -> None:
        super().__init__(session, actor)
        self.usage = UsageRepository(session)

    async def _product_exists(self, product_id: str) -> None:
        await visible_product(self.session, self.actor, product_id)

    async def stats(self, product_id: str) -> schemas.UsageStatsOut:
        await self._product_exists(product_id)
        return schemas.UsageStatsOut.of(product_id, await self.usage.stats(product_id))

    async def record(
        self, product_id: str, event: schemas.ViewEvent | schemas.RatingEvent
    ) -> schemas.UsageStatsOut:
        await self._product_exists(product_id)
        if isinstance(event, schemas.ViewEvent):
            row = await self._view(product_id, event.user_id)
        else:
            row = await self._rate(product_id, event)
        return schemas.UsageStatsOut.of(product_id, row)

    async def _view(self, product_id: str, user_id: str | None) -> Any:
        """Count a view. Views are telemetry, not changes to the catalog: they are NOT audited
        (an audit event per page view would bury the writes the trail exists for); search
        folds them into popularity every CATALOG_SEARCH_USAGE_INTERVAL_S (search/projector.py)."""
        increments = {"view_count": 1}
        if user_id is not None and await self.usage.add_viewer(product_id, user_id):
            increments["unique_viewers"] = 1
        return await self.usage.bump(product_id, increments, last_viewed_at=utcnow())

    async def _rate(self, product_id: str, event: schemas.RatingEvent) -> Any:
        """Insert or replace the user's rating and move the sum by the difference.

        The user's rating row is locked first, so concurrent ratings by one user queue up and
        each sees the rating the previous one left; the stats change by `new - old` in one
        atomic upsert, never from a value read earlier.
        """
        now = utcnow()
        previous = None
        for _ in range(RATING_ATTEMPTS):
            previous = await self.usage.lock_rating(product_id, event.user_id)
            if previous is not None:
                break
            comment = event.comment or ""
            if await self.usage.insert_rating(
                product_id, event.user_id, event.rating, comment, now
            ):
                self._audit_rating(product_id, event, None, comment)
                return await self.usage.bump(
                    product_id, {"rating_count": 1, "rating_sum": event.rating}
                )
            # A concurrent first rating by the same user won the insert: lock and update it.
        if previous is None:
            raise NotFound("data product", product_id)
        comment = previous.comment if event.comment is None else event.comment
        await self.usage.update_rating(product_id, event.user_id, event.rating, comment, now)
        self._audit_rating(product_id, event, previous, comment)
        return await self.usage.bump(product_id, {"rating_sum": event.rating - previous.rating})

    def _audit_rating(
        self, product_id: str, event: schemas.RatingEvent, previous: Any, comment: str
    ) -> None:
        before = None
        if previous is not None:
            before = {"rating": previous.rating, "comment": previous.comment}
        self.audit.record(
            "rate",
            "data_product",
            product_id,
            before=before,
            after={"rating": event.rating, "comment": comment},
            details={"user_id": event.user_id},
        )
