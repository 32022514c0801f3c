"""All SQL of usage: the per-product counters, unique viewers and ratings.

Counters are only ever changed by one atomic upsert (`n = n + k`), never read-modify-write,
so concurrent requests cannot lose each other's increments. The upsert also creates the
stats row if a product somehow lacks it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row, select, update

from catalog.core.time import utcnow
from catalog.db.models import DataProduct, ProductRating, ProductUsageStats, ProductViewer
from catalog.kit.repository import Repository

STATS = ProductUsageStats.__table__
COUNTERS = frozenset(
    {
        "view_count",
        "unique_viewers",
        "access_requests",
        "approved_access",
        "rejected_access",
        "rating_count",
        "rating_sum",
    }
)


class UsageRepository(Repository[ProductUsageStats]):
    model = ProductUsageStats

    async def product_exists(self, product_id: str) -> bool:
        found = await self.session.scalar(
            select(DataProduct.id).where(DataProduct.id == product_id)
        )
        return found is not None

    async def stats(self, product_id: str) -> Row[Any] | None:
        result = await self.session.execute(select(STATS).where(STATS.c.product_id == product_id))
        return result.first()

    async def bump(self, product_id: str, increments: dict[str, int], **values: Any) -> Row[Any]:
        """Add `increments` to the product's counters (and set `values`) atomically.

        On PostgreSQL the upsert holds the stats row's lock until the transaction ends, which
        also serialises any check the caller makes after it for the same product.
        """
        unknown = set(increments) - COUNTERS
        if unknown:
            raise ValueError(f"not usage counters: {sorted(unknown)}")
        now = utcnow()
        statement = (
            self.insert(STATS)
            .values(product_id=product_id, updated_at=now, **increments, **values)
            .on_conflict_do_update(
                index_elements=[STATS.c.product_id],
                set_={name: STATS.c[name] + step for name, step in increments.items()}
                | values
                | {"updated_at": now},
            )
            .returning(*STATS.c)
        )
        return (await self.session.execute(statement)).one()

    async def add_viewer(self, product_id: str, user_id: str) -> bool:
        """Remember that `user_id` viewed the product; True only the first time."""
        statement = (
            self.insert(ProductViewer.__table__)
            .values(product_id=product_id, user_id=user_id, first_viewed_at=utcnow())
            .on_conflict_do_nothing()
            .returning(ProductViewer.__table__.c.user_id)
        )
        return (await self.session.execute(statement)).first() is not None

    async def lock_rating(self, product_id: str, user_id: str) -> Row[Any] | None:
        """The user's current rating, locked until the transaction ends (PostgreSQL).

        SQLite ignores FOR UPDATE; its writers are serialised by BEGIN IMMEDIATE instead.
        """
        table = ProductRating.__table__
        result = await self.session.execute(
            select(table)
            .where(table.c.product_id == product_id, table.c.user_id == user_id)
            .with_for_update()
        )
        return result.first()

    async def insert_rating(
        self, product_id: str, user_id: str, rating: int, comment: str, now: datetime
    ) -> bool:
        """Insert the user's first rating; False if a concurrent request inserted it first."""
        table = ProductRating.__table__
        statement = (
            self.insert(table)
            .values(
                product_id=product_id,
                user_id=user_id,
                rating=rating,
                comment=comment,
                created_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing()
            .returning(table.c.user_id)
        )
        return (await self.session.execute(statement)).first() is not None

    async def update_rating(
        self, product_id: str, user_id: str, rating: int, comment: str, now: datetime
    ) -> None:
        await self.session.execute(
            update(ProductRating)
            .where(ProductRating.product_id == product_id, ProductRating.user_id == user_id)
            .values(rating=rating, comment=comment, updated_at=now)
            .execution_options(synchronize_session=False)
        )
