"""All SQL of notifications: subscriptions, following the events, and the deliveries' states.

Deliveries are claimed with a lease (`lease_until`) in one UPDATE ... RETURNING, on
PostgreSQL over rows locked with SKIP LOCKED, so several workers and replicas share the due
deliveries without sending one twice; a worker that dies mid-send leaves its claims to
expire, and another sends them again (at least once: receivers deduplicate by event id).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, bindparam, delete, func, or_, select, update

from catalog.db.models import (
    CatalogEvent,
    NotificationDelivery,
    ProductTag,
    Subscription,
    Tag,
)
from catalog.kit.repository import Repository, table_of

CONSUMER = "notifications"  # the fan-out's position in change_log_positions (by event seq)


def _due(now: datetime) -> tuple[Any, ...]:
    """Pending, its time come, and nobody's lease on it."""
    return (
        NotificationDelivery.status == "pending",
        NotificationDelivery.next_attempt_at <= now,
        or_(NotificationDelivery.lease_until.is_(None), NotificationDelivery.lease_until <= now),
    )


class SubscriptionRepository(Repository[Subscription]):
    model = Subscription

    def list_statement(self, owner: str | None) -> Select[Any]:
        statement = select(Subscription).order_by(Subscription.created_at, Subscription.id)
        return statement if owner is None else statement.where(Subscription.owner == owner)

    async def every(self) -> Sequence[Subscription]:
        return (await self.session.scalars(select(Subscription))).all()

    async def tag_named(self, key: str) -> str | None:
        """The id of the tag with this id or name."""
        found = await self.session.scalar(
            select(Tag.id).where(or_(Tag.id == key, Tag.name == key)).limit(1)
        )
        return None if found is None else str(found)

    async def tags_above(self, product_ids: Iterable[str]) -> dict[str, set[str]]:
        """Per product, its tags and every tag above them (a tag subscription covers its
        subtree), in one recursive query."""
        ids = sorted(set(product_ids))
        if not ids:
            return {}
        base = select(ProductTag.product_id, ProductTag.tag_id).where(
            ProductTag.product_id.in_(ids)
        )
        up = base.cte("up", recursive=True)
        parents = select(up.c.product_id, Tag.parent_tag_id).join(Tag, Tag.id == up.c.tag_id)
        up = up.union(parents.where(Tag.parent_tag_id.is_not(None)))
        found: dict[str, set[str]] = {}
        for product_id, tag_id in await self.session.execute(select(up.c.product_id, up.c.tag_id)):
            found.setdefault(product_id, set()).add(tag_id)
        return found


class EventRepository(Repository[CatalogEvent]):
    model = CatalogEvent

    async def newest(self) -> int:
        return int(await self.session.scalar(select(func.max(CatalogEvent.seq))) or 0)

    async def after(self, seq: int, limit: int) -> Sequence[CatalogEvent]:
        statement = select(CatalogEvent).where(CatalogEvent.seq > seq).order_by(CatalogEvent.seq)
        return (await self.session.scalars(statement.limit(limit))).all()

    async def prune(self, before: datetime, fanned_out: int) -> int:
        """Delete events older than `before` that have been fanned out (with their
        deliveries, by cascade: on SQLite too, the deliveries go first)."""
        doomed = select(CatalogEvent.seq).where(
            CatalogEvent.created_at < before, CatalogEvent.seq <= fanned_out
        )
        await self.session.execute(
            delete(NotificationDelivery).where(NotificationDelivery.event_seq.in_(doomed))
        )
        result = await self.session.execute(
            delete(CatalogEvent).where(CatalogEvent.seq.in_(doomed))
        )
        return int(getattr(result, "rowcount", 0) or 0)


@dataclass(frozen=True)
class Claimed:
    delivery_id: int
    attempts: int
    subscription: Subscription
    event: CatalogEvent


@dataclass(frozen=True)
class Outcome:
    """How one send went: delivered, to retry at `next_attempt_at`, or dead."""

    delivery_id: int
    status: str  # pending | delivered | dead
    attempts: int
    next_attempt_at: datetime
    last_status: int | None
    last_error: str
    delivered_at: datetime | None


class DeliveryRepository(Repository[NotificationDelivery]):
    model = NotificationDelivery

    async def fan_out(self, rows: list[dict[str, Any]]) -> None:
        """One pending delivery per (subscription, event); a pair made already stays."""
        if rows:
            table = table_of(NotificationDelivery)
            statement = self.insert(table).on_conflict_do_nothing(
                index_elements=["subscription_id", "event_seq"]
            )
            await self.session.execute(statement, rows)

    async def claim(self, now: datetime, lease_until: datetime, limit: int) -> list[Claimed]:
        """Lease the next due deliveries to this worker, with their subscription and event."""
        due = (
            select(NotificationDelivery.id)
            .where(*_due(now))
            .order_by(NotificationDelivery.next_attempt_at, NotificationDelivery.id)
            .limit(limit)
        )
        if self.dialect == "postgresql":
            due = due.with_for_update(skip_locked=True)
        claimed = await self.session.execute(
            update(NotificationDelivery)
            .where(NotificationDelivery.id.in_(due.scalar_subquery()))
            .values(lease_until=lease_until)
            .returning(
                NotificationDelivery.id,
                NotificationDelivery.attempts,
                NotificationDelivery.subscription_id,
                NotificationDelivery.event_seq,
            )
        )
        rows = claimed.all()
        if not rows:
            return []
        subscriptions = {
            s.id: s
            for s in await self.session.scalars(
                select(Subscription).where(Subscription.id.in_({r.subscription_id for r in rows}))
            )
        }
        events = {
            e.seq: e
            for e in await self.session.scalars(
                select(CatalogEvent).where(CatalogEvent.seq.in_({r.event_seq for r in rows}))
            )
        }
        return [
            Claimed(r.id, r.attempts, subscriptions[r.subscription_id], events[r.event_seq])
            for r in sorted(rows, key=lambda r: r.id)
            if r.subscription_id in subscriptions and r.event_seq in events
        ]

    async def settle(self, outcomes: list[Outcome], lease_until: datetime) -> None:
        """Record how each send went and release its lease, in one executemany; only where
        the lease is still the one this worker took (`lease_until`): a send that outlived
        its lease was claimed again by another worker, whose outcome is the one to keep."""
        if not outcomes:
            return
        table = table_of(NotificationDelivery)
        statement = (
            update(table)
            .where(table.c.id == bindparam("delivery_id"), table.c.lease_until == lease_until)
            .values(
                status=bindparam("status"),
                attempts=bindparam("attempts"),
                next_attempt_at=bindparam("next_attempt_at"),
                last_status=bindparam("last_status"),
                last_error=bindparam("last_error"),
                delivered_at=bindparam("delivered_at"),
                lease_until=None,
            )
        )
        await self.session.execute(statement, [outcome.__dict__ for outcome in outcomes])

    async def replay(self, subscription_id: str, since: datetime, now: datetime) -> int:
        """Queue the subscription's dead-lettered deliveries of events since `since` again."""
        events_since = select(CatalogEvent.seq).where(CatalogEvent.created_at >= since)
        result = await self.session.execute(
            update(NotificationDelivery)
            .where(
                NotificationDelivery.subscription_id == subscription_id,
                NotificationDelivery.status == "dead",
                NotificationDelivery.event_seq.in_(events_since),
            )
            .values(status="pending", attempts=0, next_attempt_at=now, lease_until=None)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    def list_statement(self, subscription_id: str, status: str | None) -> Select[Any]:
        """The subscription's deliveries with their event's id and type, newest first."""
        statement = (
            select(
                *table_of(NotificationDelivery).c,
                CatalogEvent.id.label("event_id"),
                CatalogEvent.type.label("event_type"),
            )
            .join(CatalogEvent, CatalogEvent.seq == NotificationDelivery.event_seq)
            .where(NotificationDelivery.subscription_id == subscription_id)
            .order_by(NotificationDelivery.id.desc())
        )
        if status is not None:
            statement = statement.where(NotificationDelivery.status == status)
        return statement

    async def paginate_rows(
        self, statement: Select[Any], limit: int, offset: int
    ) -> tuple[Sequence[Any], int]:
        """As `paginate`, for a statement of several columns: its rows as mappings."""
        total = await self.count(statement)
        result = await self.session.execute(statement.limit(limit).offset(offset))
        return result.mappings().all(), total

    async def due_exists(self, now: datetime) -> bool:
        found = await self.session.scalar(
            select(NotificationDelivery.id).where(*_due(now)).limit(1)
        )
        return found is not None

    async def backlog(self, now: datetime) -> tuple[int, datetime | None]:
        """Deliveries due and not delivered, and when the oldest of their events was made."""
        row = (
            await self.session.execute(
                select(func.count(), func.min(CatalogEvent.created_at))
                .select_from(NotificationDelivery)
                .join(CatalogEvent, CatalogEvent.seq == NotificationDelivery.event_seq)
                .where(
                    NotificationDelivery.status == "pending",
                    NotificationDelivery.next_attempt_at <= now,
                )
            )
        ).one()
        return int(row[0] or 0), row[1]
