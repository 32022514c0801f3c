"""The change log: which catalog nodes changed, in commit order, for every projection to follow.

A row is appended in the same transaction as the write that changed the node (changes/
recorder.py), so a committed write is never missing from the log and a rolled-back one never
in it. Ids grow in commit order (appends are serialised at commit on PostgreSQL; SQLite has
one writer), so a consumer that remembers the last id it applied never skips a change.

Rows are kept for a while (CATALOG_CHANGE_LOG_RETENTION_S) instead of being deleted by their
first reader: the graph projection and every replica's search index follow the same log at
their own pace. `change_log_positions` holds the durable positions (the graph projection's,
named `graph`) and the prune horizon (`pruned`: the highest id deleted so far), by which a
consumer knows it fell behind the retained log and must rebuild instead.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from catalog.db.models.base import ID_LENGTH, Base, created_at_column, updated_at_column

# SQLite numbers rows itself only for an INTEGER PRIMARY KEY.
SEQUENCE = BigInteger().with_variant(Integer(), "sqlite")


class ChangeLog(Base):
    __tablename__ = "change_log"
    __table_args__ = (Index("idx_change_log_created_at", "created_at"),)

    id: Mapped[int] = mapped_column(SEQUENCE, primary_key=True, autoincrement=True)
    label: Mapped[str] = mapped_column(String(40))
    node_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    created_at: Mapped[datetime] = created_at_column()


class ChangeLogPosition(Base):
    __tablename__ = "change_log_positions"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    position: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = updated_at_column()
