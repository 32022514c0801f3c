"""Hierarchical tags and the tags on data products."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from catalog.db.models.base import (
    NAME_LENGTH,
    Base,
    created_at_column,
    enum_check,
    id_column,
    updated_at_column,
)

TAG_SOURCES = ("manual", "auto", "suggested")


class Tag(Base):
    __tablename__ = "tags"
    __table_args__ = (
        Index("idx_tags_name", "name", unique=True),
        Index("idx_tags_category", "category"),
        Index("idx_tags_parent_tag_id", "parent_tag_id"),
        CheckConstraint("usage_count >= 0", name="usage_count_not_negative"),
    )

    id: Mapped[str] = id_column()
    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    category: Mapped[str] = mapped_column(String(NAME_LENGTH), default="general")
    description: Mapped[str] = mapped_column(Text, default="")
    parent_tag_id: Mapped[str | None] = mapped_column(ForeignKey("tags.id", ondelete="RESTRICT"))
    usage_count: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class ProductTag(Base):
    __tablename__ = "product_tags"
    __table_args__ = (
        CheckConstraint(enum_check("source", TAG_SOURCES), name="source"),
        CheckConstraint("confidence >= 0 AND confidence <= 1", name="confidence_range"),
        Index("idx_product_tags_product_id", "product_id"),
        Index("idx_product_tags_tag_id", "tag_id"),
        Index("idx_product_tags_created_at", "created_at"),
    )

    product_id: Mapped[str] = mapped_column(
        ForeignKey("data_products.id", ondelete="CASCADE"), primary_key=True
    )
    tag_id: Mapped[str] = mapped_column(ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True)
    confidence: Mapped[float] = mapped_column(Float, default=1.0)
    source: Mapped[str] = mapped_column(String(20), default="manual")
    created_by: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    created_at: Mapped[datetime] = created_at_column()
