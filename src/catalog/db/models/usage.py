"""Usage of data products: counters, unique viewers and ratings."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from catalog.db.models.base import NAME_LENGTH, Base, created_at_column, updated_at_column
from catalog.db.types import UTCDateTime


class ProductUsageStats(Base):
    """One row per product, changed only by atomic upserts (never read-modify-write)."""

    __tablename__ = "product_usage_stats"
    __table_args__ = (Index("idx_product_usage_stats_updated_at", "updated_at"),)

    product_id: Mapped[str] = mapped_column(
        ForeignKey("data_products.id", ondelete="CASCADE"), primary_key=True
    )
    view_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    unique_viewers: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    access_requests: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    approved_access: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    rejected_access: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    rating_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    rating_sum: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_viewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = updated_at_column()


class ProductViewer(Base):
    """Who has viewed a product: the basis of `unique_viewers`."""

    __tablename__ = "product_viewers"

    product_id: Mapped[str] = mapped_column(
        ForeignKey("data_products.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[str] = mapped_column(String(NAME_LENGTH), primary_key=True)
    first_viewed_at: Mapped[datetime] = created_at_column()


class ProductRating(Base):
    __tablename__ = "product_ratings"
    __table_args__ = (CheckConstraint("rating BETWEEN 1 AND 5", name="rating_range"),)

    product_id: Mapped[str] = mapped_column(
        ForeignKey("data_products.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[str] = mapped_column(String(NAME_LENGTH), primary_key=True)
    rating: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()
