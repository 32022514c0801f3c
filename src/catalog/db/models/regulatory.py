"""Regulatory schemas (versioned specs), their field-level changes and product mappings."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from catalog.db.models.base import (
    NAME_LENGTH,
    Base,
    created_at_column,
    enum_check,
    id_column,
    updated_at_column,
)
from catalog.db.types import JSONType, UTCDateTime

SCHEMA_STATUSES = ("draft", "approved", "deprecated")
CHANGE_TYPES = ("added", "modified", "removed")


class RegulatorySchema(Base):
    __tablename__ = "regulatory_schemas"
    __table_args__ = (
        CheckConstraint(enum_check("status", SCHEMA_STATUSES), name="status"),
        Index("idx_regulatory_schemas_regulatory_type", "regulatory_type"),
        Index("idx_regulatory_schemas_version", "version"),
        Index("idx_regulatory_schemas_created_at", "created_at"),
        Index("idx_regulatory_schemas_type_version", "regulatory_type", "version", unique=True),
    )

    id: Mapped[str] = id_column()
    regulatory_type: Mapped[str] = mapped_column(String(100))
    version: Mapped[str] = mapped_column(String(100))
    document_source: Mapped[str | None] = mapped_column(String(500))
    document_version: Mapped[str | None] = mapped_column(String(100))
    spec_json: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    status: Mapped[str] = mapped_column(String(20), default="draft")
    created_by: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    approved_by: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class SchemaChange(Base):
    """One field-level difference between a schema and the previous version of its type."""

    __tablename__ = "schema_changes"
    __table_args__ = (
        CheckConstraint(enum_check("change_type", CHANGE_TYPES), name="change_type"),
        Index("idx_schema_changes_schema_id", "schema_id"),
    )

    id: Mapped[str] = id_column()
    schema_id: Mapped[str] = mapped_column(ForeignKey("regulatory_schemas.id", ondelete="CASCADE"))
    previous_schema_id: Mapped[str | None] = mapped_column(
        ForeignKey("regulatory_schemas.id", ondelete="SET NULL"), index=True
    )
    field_path: Mapped[str] = mapped_column(String(500))
    change_type: Mapped[str] = mapped_column(String(20))
    old_value: Mapped[Any | None] = mapped_column(JSONType)
    new_value: Mapped[Any | None] = mapped_column(JSONType)
    breaking: Mapped[bool] = mapped_column(Boolean, default=False)
    detected_at: Mapped[datetime] = created_at_column()


class SchemaProductMapping(Base):
    """A schema field satisfied by a product (and optionally one of its data elements)."""

    __tablename__ = "schema_product_mappings"
    __table_args__ = (
        UniqueConstraint("schema_id", "field_path", "product_id", "data_element_id"),
        Index("idx_schema_product_mappings_product_id", "product_id"),
    )

    id: Mapped[str] = id_column()
    schema_id: Mapped[str] = mapped_column(
        ForeignKey("regulatory_schemas.id", ondelete="CASCADE"), index=True
    )
    field_path: Mapped[str] = mapped_column(String(500))
    product_id: Mapped[str] = mapped_column(ForeignKey("data_products.id", ondelete="CASCADE"))
    data_element_id: Mapped[str | None] = mapped_column(
        ForeignKey("data_elements.id", ondelete="RESTRICT"), index=True
    )
    transformation: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()
