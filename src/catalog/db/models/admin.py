"""API keys (stored hashed; the secret is shown once at creation)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, String
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
