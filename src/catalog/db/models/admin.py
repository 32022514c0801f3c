"""API keys (stored hashed; the secret is shown once at creation) and the service's alerts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from catalog.db.models.base import NAME_LENGTH, Base, created_at_column, enum_check, id_column
from catalog.db.types import JSONType, UTCDateTime

ROLES = ("viewer", "editor", "steward", "admin")


class ApiKey(Base):
    __tablename__ = "api_keys"
    __table_args__ = (CheckConstraint(enum_check("role", ROLES), name="role"),)

    id: Mapped[str] = id_column()
    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    # The first characters of the key, kept in clear so an owner can recognise it in lists.
    prefix: Mapped[str] = mapped_column(String(32), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    # For visibility of restricted products: a key acts for one team (or none).
    team: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    scopes: Mapped[list[str]] = mapped_column(JSONType, default=list)
    created_by: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    created_at: Mapped[datetime] = created_at_column()
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Alert(Base):
    """An alert the service raised about itself, kept so it survives restarts and is listed.

    One row per occurrence of a fingerprint: firing until resolved; `deliveries` records, per
    sink, the last status that sink was told (so a sink that was down is told when it returns).
    """

    __tablename__ = "alerts"
    __table_args__ = (
        Index("idx_alerts_status", "status"),
        Index("idx_alerts_fingerprint_status", "fingerprint", "status"),
        Index("idx_alerts_starts_at", "starts_at"),
    )

    id: Mapped[str] = id_column()
    fingerprint: Mapped[str] = mapped_column(String(64))
    alert_type: Mapped[str] = mapped_column(String(50))
    severity: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    summary: Mapped[str] = mapped_column(String(500))
    description: Mapped[str] = mapped_column(Text, default="")
    labels: Mapped[dict[str, str]] = mapped_column(JSONType, default=dict)
    instance: Mapped[str] = mapped_column(String(200))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    deliveries: Mapped[dict[str, str]] = mapped_column(JSONType, default=dict)
