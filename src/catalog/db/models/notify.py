"""Catalog events for people, their subscriptions, and the deliveries between the two.

`catalog_events` is the outbox of notifications: a write that causes an event (a version
published, a request decided) appends its row in the same transaction as the write, through
the change log's recorder (changes/recorder.py), so a committed write always has its event and
a rolled-back one never does; `seq` grows in commit order, as the change log's ids do. The
routing columns (product, team, visibility, requester) are copied from the subject when the
event is made, so matching an event to subscriptions reads no other table, and an event about
a product that is later deleted still says who could see it.

`notification_deliveries` is one row per (subscription, event) made when the dispatcher fans
an event out (notify/dispatcher.py): its state machine is pending -> delivered | dead, with
`attempts`, the next attempt's time and a lease while one worker is sending it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from catalog.db.models.base import (
    ID_LENGTH,
    NAME_LENGTH,
    Base,
    created_at_column,
    enum_check,
    id_column,
)
from catalog.db.models.changes import SEQUENCE
from catalog.db.types import JSONType, UTCDateTime

EVENT_ID_LENGTH = 60  # "evt_" and a UUID
CHANNELS = ("webhook", "slack", "email")
DELIVERY_STATUSES = ("pending", "delivered", "dead")


class CatalogEvent(Base):
    __tablename__ = "catalog_events"
    __table_args__ = (Index("idx_catalog_events_created_at", "created_at"),)

    seq: Mapped[int] = mapped_column(SEQUENCE, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(EVENT_ID_LENGTH), unique=True)  # receivers' dedup key
    type: Mapped[str] = mapped_column(String(60))
    # Routing, copied from the subject at the time of the event (no foreign key: the event
    # outlives a deleted product).
    product_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    team: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    visibility: Mapped[str | None] = mapped_column(String(20))
    requester: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    body: Mapped[dict[str, Any]] = mapped_column(JSONType)  # the event as delivered
    created_at: Mapped[datetime] = created_at_column()


class Subscription(Base):
    __tablename__ = "subscriptions"
    __table_args__ = (
        CheckConstraint(enum_check("channel", CHANNELS), name="channel"),
        Index("idx_subscriptions_owner", "owner"),
        Index("idx_subscriptions_product_id", "product_id"),
    )

    id: Mapped[str] = id_column()
    # Who subscribed, with the rights they had then: what they may see decides what reaches them.
    owner: Mapped[str] = mapped_column(String(NAME_LENGTH))
    owner_role: Mapped[str] = mapped_column(String(20))
    owner_team: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    owner_kind: Mapped[str] = mapped_column(String(20))
    # The scope: at most one of product, tag (with its subtree) and team; none = everything.
    product_id: Mapped[str | None] = mapped_column(
        ForeignKey("data_products.id", ondelete="CASCADE")
    )
    tag_id: Mapped[str | None] = mapped_column(ForeignKey("tags.id", ondelete="CASCADE"))
    team: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    event_types: Mapped[list[str]] = mapped_column(JSONType, default=list)  # empty: all
    channel: Mapped[str] = mapped_column(String(20))
    url: Mapped[str | None] = mapped_column(Text)
    secret: Mapped[str | None] = mapped_column(Text)  # signs webhook bodies: kept to sign
    email: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = created_at_column()


class NotificationDelivery(Base):
    __tablename__ = "notification_deliveries"
    __table_args__ = (
        UniqueConstraint("subscription_id", "event_seq"),
        CheckConstraint(enum_check("status", DELIVERY_STATUSES), name="status"),
        Index("idx_notification_deliveries_due", "status", "next_attempt_at"),
        Index("idx_notification_deliveries_event_seq", "event_seq"),
    )

    id: Mapped[int] = mapped_column(SEQUENCE, primary_key=True, autoincrement=True)
    subscription_id: Mapped[str] = mapped_column(ForeignKey("subscriptions.id", ondelete="CASCADE"))
    event_seq: Mapped[int] = mapped_column(ForeignKey("catalog_events.seq", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = created_at_column()
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
