"""Requests for access to data products and their decisions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from catalog.core.time import utcnow
from catalog.db.models.base import NAME_LENGTH, Base, enum_check, id_column, updated_at_column
from catalog.db.types import UTCDateTime

ACCESS_STATUSES = ("pending", "approved", "rejected", "revoked", "cancelled")


class AccessRequest(Base):
    __tablename__ = "access_requests"
    __table_args__ = (
        CheckConstraint(enum_check("status", ACCESS_STATUSES), name="status"),
        Index("idx_access_requests_product_id", "product_id"),
        Index("idx_access_requests_status", "status"),
        Index("idx_access_requests_requested_at", "requested_at"),
        Index("idx_access_requests_requester", "requester"),
    )

    id: Mapped[str] = id_column()
    product_id: Mapped[str] = mapped_column(ForeignKey("data_products.id", ondelete="CASCADE"))
    requester: Mapped[str] = mapped_column(String(NAME_LENGTH))
    requester_team: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    reason: Mapped[str] = mapped_column(Text, default="")
    comments: Mapped[str | None] = mapped_column(Text)  # the requester's, beside the reason
    status: Mapped[str] = mapped_column(String(20), default="pending")
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_by: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decision_comments: Mapped[str | None] = mapped_column(Text)
    revoked_by: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoke_comments: Mapped[str | None] = mapped_column(Text)
    # When `access_request.expiring` was emitted for this grant (once per grant).
    expiry_noticed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = updated_at_column()
