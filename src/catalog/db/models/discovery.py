"""What people searched for and what they clicked."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from catalog.db.models.base import ID_LENGTH, NAME_LENGTH, Base, created_at_column, id_column
from catalog.db.types import JSONType


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
