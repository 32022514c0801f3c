"""The audit trail: LangExtract operations and every write or auth event in the catalog."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from catalog.db.models.base import ID_LENGTH, NAME_LENGTH, Base, created_at_column, id_column
from catalog.db.types import JSONType


class LangExtractAuditTrail(Base):
    __tablename__ = "langextract_audit_trail"
    __table_args__ = (
        Index("idx_langextract_audit_trail_timestamp", "timestamp"),
        Index("idx_langextract_audit_trail_user_id", "user_id"),
        Index("idx_langextract_audit_trail_operation_type", "operation_type"),
        Index("idx_langextract_audit_trail_extraction_id", "extraction_id"),
    )

    id: Mapped[str] = id_column()
    extraction_id: Mapped[str] = mapped_column(String(NAME_LENGTH))
    user_id: Mapped[str] = mapped_column(String(NAME_LENGTH))
    context: Mapped[str] = mapped_column(Text, default="")
    operation_type: Mapped[str] = mapped_column(String(100))
    request: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    response: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    processing_time_ms: Mapped[int | None] = mapped_column(Integer)
    confidence: Mapped[float | None] = mapped_column(Float)
    schema_version: Mapped[str | None] = mapped_column(String(100))
    quality_metrics: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSONType, default=dict)
    recorded_by: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    timestamp: Mapped[datetime] = created_at_column()


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __table_args__ = (
        Index("idx_audit_events_timestamp", "timestamp"),
        Index("idx_audit_events_resource", "resource_type", "resource_id"),
        Index("idx_audit_events_actor", "actor"),
        Index("idx_audit_events_action", "action"),
    )

    id: Mapped[str] = id_column()
    timestamp: Mapped[datetime] = created_at_column()
    actor: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    actor_role: Mapped[str | None] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(100))
    resource_type: Mapped[str] = mapped_column(String(100))
    resource_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    request_id: Mapped[str | None] = mapped_column(String(128))
    client_ip: Mapped[str | None] = mapped_column(String(64))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    details: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
