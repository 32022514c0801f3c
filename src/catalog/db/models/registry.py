"""ISO/IEC 11179 registry: concepts, value domains, representations, data elements."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from catalog.db.models.base import (
    NAME_LENGTH,
    Base,
    created_at_column,
    enum_check,
    id_column,
    updated_at_column,
)
from catalog.db.types import JSONType, UTCDateTime

REGISTRATION_STATUSES = ("draft", "published", "deprecated", "archived")
VALUE_DOMAIN_TYPES = ("enumerated", "non_enumerated")
DATA_TYPES = ("string", "integer", "decimal", "boolean", "date", "datetime")


class DataElementConcept(Base):
    __tablename__ = "data_element_concepts"

    id: Mapped[str] = id_column()
    name: Mapped[str] = mapped_column(String(NAME_LENGTH), unique=True)
    object_class: Mapped[str] = mapped_column(String(NAME_LENGTH))
    property: Mapped[str] = mapped_column(String(NAME_LENGTH))
    definition: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class ValueDomain(Base):
    __tablename__ = "value_domains"
    __table_args__ = (
        CheckConstraint(enum_check("type", VALUE_DOMAIN_TYPES), name="type"),
        CheckConstraint(enum_check("data_type", DATA_TYPES), name="data_type"),
    )

    id: Mapped[str] = id_column()
    name: Mapped[str] = mapped_column(String(NAME_LENGTH), unique=True)
    type: Mapped[str] = mapped_column(String(20))
    data_type: Mapped[str] = mapped_column(String(20))
    unit_of_measure: Mapped[str | None] = mapped_column(String(50))
    description: Mapped[str] = mapped_column(Text, default="")
    # [{"type": "min"|"max"|"min_length"|"max_length"|"pattern"|..., "value": ...}]
    constraints: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    created_by: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()

    permissible_values: Mapped[list[PermissibleValue]] = relationship(
        back_populates="value_domain",
        lazy="raise",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="PermissibleValue.position",
    )


class PermissibleValue(Base):
    __tablename__ = "permissible_values"
    __table_args__ = (UniqueConstraint("value_domain_id", "value"),)

    id: Mapped[str] = id_column()
    value_domain_id: Mapped[str] = mapped_column(
        ForeignKey("value_domains.id", ondelete="CASCADE"), index=True
    )
    value: Mapped[str] = mapped_column(String(NAME_LENGTH))
    meaning: Mapped[str] = mapped_column(Text, default="")
    position: Mapped[int] = mapped_column(Integer, default=0)

    value_domain: Mapped[ValueDomain] = relationship(
        back_populates="permissible_values", lazy="raise"
    )


class Representation(Base):
    __tablename__ = "representations"
    __table_args__ = (CheckConstraint(enum_check("data_type", DATA_TYPES), name="data_type"),)

    id: Mapped[str] = id_column()
    name: Mapped[str] = mapped_column(String(NAME_LENGTH), unique=True)
    format: Mapped[str | None] = mapped_column(String(100))
    data_type: Mapped[str] = mapped_column(String(20))
    length: Mapped[int | None] = mapped_column(Integer)
    precision: Mapped[int | None] = mapped_column(Integer)
    scale: Mapped[int | None] = mapped_column(Integer)
    unit_of_measure: Mapped[str | None] = mapped_column(String(50))
    value_domain_id: Mapped[str | None] = mapped_column(
        ForeignKey("value_domains.id", ondelete="RESTRICT"), index=True
    )
    created_by: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class DataElement(Base):
    __tablename__ = "data_elements"
    __table_args__ = (
        CheckConstraint(
            enum_check("registration_status", REGISTRATION_STATUSES), name="registration_status"
        ),
        Index("idx_data_elements_registration_status", "registration_status"),
        Index("idx_data_elements_created_at", "created_at"),
    )

    id: Mapped[str] = id_column()
    # The ISO 11179 registry identifier, stable across renames (also the graph's key).
    identifier: Mapped[str] = mapped_column(String(500), unique=True)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH), unique=True)
    definition: Mapped[str] = mapped_column(Text, default="")
    data_element_concept_id: Mapped[str | None] = mapped_column(
        ForeignKey("data_element_concepts.id", ondelete="RESTRICT"), index=True
    )
    representation_id: Mapped[str | None] = mapped_column(
        ForeignKey("representations.id", ondelete="RESTRICT"), index=True
    )
    steward: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    source: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    registration_status: Mapped[str] = mapped_column(String(20), default="draft")
    version: Mapped[int] = mapped_column(Integer, default=1)
    quality_score: Mapped[float | None] = mapped_column(Float)
    quality_level: Mapped[str | None] = mapped_column(String(20))
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSONType, default=dict)
    created_by: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    deprecated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
