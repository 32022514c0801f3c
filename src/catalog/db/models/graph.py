"""The graph outbox: nodes whose projection in the graph database is out of date.

Appended in the same transaction as the catalog write that changed them (graph/outbox.py), so
a committed write is never missing from the outbox and a rolled-back one never in it. The
worker (graph/worker.py) projects the named nodes in id order and deletes their rows.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from catalog.db.models.base import ID_LENGTH, Base, created_at_column

# SQLite numbers rows itself only for an INTEGER PRIMARY KEY.
SEQUENCE = BigInteger().with_variant(Integer(), "sqlite")


class GraphOutbox(Base):
    __tablename__ = "graph_outbox"

    id: Mapped[int] = mapped_column(SEQUENCE, primary_key=True, autoincrement=True)
    label: Mapped[str] = mapped_column(String(40))
    node_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    created_at: Mapped[datetime] = created_at_column()
