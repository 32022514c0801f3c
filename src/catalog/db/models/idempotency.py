"""Idempotency keys: the first answer to a keyed POST, kept so a retry gets it back.

One row per (principal scope, key). `processing` while the first attempt runs (a duplicate
arriving meanwhile is refused with 409), `completed` once its answer is stored. The row is in
the database, not in a process, so the key holds across restarts and replicas.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from catalog.db.models.base import Base, created_at_column, enum_check, id_column
from catalog.db.types import JSONType, UTCDateTime

IDEMPOTENCY_STATES = ("processing", "completed")
KEY_LENGTH = 255
SCOPE_LENGTH = 255


class IdempotencyKey(Base):
    __tablename__ = "idempotency_keys"
    __table_args__ = (
        UniqueConstraint("scope", "idempotency_key"),
        CheckConstraint(enum_check("state", IDEMPOTENCY_STATES), name="state"),
        Index("idx_idempotency_keys_expires_at", "expires_at"),
    )

    # A fresh id per attempt: a taken-over attempt finishing late cannot touch its successor.
    id: Mapped[str] = id_column()
    scope: Mapped[str] = mapped_column(String(SCOPE_LENGTH))  # the principal's subject
    idempotency_key: Mapped[str] = mapped_column(String(KEY_LENGTH))
    method: Mapped[str] = mapped_column(String(16))
    path: Mapped[str] = mapped_column(Text)  # path, plus "?query" when there is one
    fingerprint: Mapped[str] = mapped_column(String(64))  # sha256 of the body bytes, hex
    state: Mapped[str] = mapped_column(String(20))
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_headers: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    response_body: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = created_at_column()
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Set in the request's own transaction: its writes committed (see idempotency/middleware.py).
    committed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
