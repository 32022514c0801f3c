"""What people searched for and what they clicked."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from catalog.db.models.base import ID_LENGTH, NAME_LENGTH, Base, created_at_column, id_column
from catalog.db.types import JSONType, UTCDateTime


class SearchHistory(Base):
    __tablename__ = "search_history"
    __table_args__ = (
        Index("idx_search_history_query", "query"),
        Index("idx_search_history_timestamp", "timestamp"),
        Index("idx_search_history_user_id", "user_id", "timestamp"),
    )

    id: Mapped[str] = id_column()
    user_id: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    query: Mapped[str] = mapped_column(Text, default="")
    filters: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    result_count: Mapped[int] = mapped_column(Integer, default=0)
    clicked: Mapped[bool] = mapped_column(Boolean, default=False)
    clicked_product_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    timestamp: Mapped[datetime] = created_at_column()


class ProductSearch(Base):
    """One search document per data product, kept current by the services that change it.

    Portable columns only. Each database adds its own text index beside it in migration 0002:
    PostgreSQL a weighted `search_vector` (generated tsvector, GIN) and trigram indexes;
    SQLite FTS5 tables kept in sync by triggers. Those objects are not in this model.
    """

    __tablename__ = "product_search"
    __table_args__ = (
        Index("idx_product_search_team", "team"),
        Index("idx_product_search_category", "category"),
        Index("idx_product_search_status", "status"),
        Index("idx_product_search_updated_at", "updated_at"),
        Index("idx_product_search_name", "name"),
    )

    # Integer key: SQLite's FTS index refers to rows by rowid (stable only for INTEGER PK).
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    product_id: Mapped[str] = mapped_column(
        ForeignKey("data_products.id", ondelete="CASCADE"), unique=True
    )
    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    description: Mapped[str] = mapped_column(Text, default="")
    team: Mapped[str] = mapped_column(String(NAME_LENGTH))
    category: Mapped[str] = mapped_column(String(NAME_LENGTH))
    owner: Mapped[str] = mapped_column(String(NAME_LENGTH))
    status: Mapped[str] = mapped_column(String(20))
    visibility: Mapped[str] = mapped_column(String(20))
    tags_text: Mapped[str] = mapped_column(Text, default="")
    tag_names: Mapped[list[str]] = mapped_column(JSONType, default=list)
    elements_text: Mapped[str] = mapped_column(Text, default="")
    quality_score: Mapped[float | None] = mapped_column(Float)
    latest_version: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
