"""Data products, their versions, member elements and lineage."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from catalog.db.models.base import (
    ID_LENGTH,
    NAME_LENGTH,
    Base,
    created_at_column,
    enum_check,
    id_column,
    updated_at_column,
)
from catalog.db.types import JSONType, UTCDateTime

SOURCE_REF_LENGTH = 500

PRODUCT_STATUSES = ("draft", "published", "deprecated")
VISIBILITIES = ("public", "internal", "restricted")
LINEAGE_NODE_TYPES = ("product", "element")


class DataProduct(Base):
    __tablename__ = "data_products"
    __table_args__ = (
        CheckConstraint(enum_check("status", PRODUCT_STATUSES), name="status"),
        CheckConstraint(enum_check("visibility", VISIBILITIES), name="visibility"),
        Index("idx_data_products_team", "team"),
        Index("idx_data_products_category", "category"),
        Index("idx_data_products_status", "status"),
        Index("idx_data_products_updated_at", "updated_at"),
        # An index, not a constraint: SQLite adds it without rebuilding the table (and the
        # graph's views over it).
        Index("uq_data_products_source_ref", "source_ref", unique=True),
    )

    id: Mapped[str] = id_column()
    name: Mapped[str] = mapped_column(String(NAME_LENGTH), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    team: Mapped[str] = mapped_column(String(NAME_LENGTH))
    category: Mapped[str] = mapped_column(String(NAME_LENGTH))
    owner: Mapped[str] = mapped_column(String(NAME_LENGTH))
    status: Mapped[str] = mapped_column(String(20), default="draft")
    visibility: Mapped[str] = mapped_column(String(20), default="public")
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSONType, default=dict)
    # Where a crawled or OpenLineage-named product lives (kit/dataset_refs.py), so the next
    # crawl or event finds it again; None for products made by hand.
    source_ref: Mapped[str | None] = mapped_column(String(SOURCE_REF_LENGTH))
    # Share of its schema's columns that are governed (db/coverage.py), None without a schema.
    governed_column_coverage: Mapped[float | None] = mapped_column(Float)
    # Bumped on every change: the ETag, and the guard against lost updates (If-Match).
    revision: Mapped[int] = mapped_column(Integer, default=1)
    created_by: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class DataProductVersion(Base):
    __tablename__ = "data_product_versions"
    __table_args__ = (
        UniqueConstraint("product_id", "version"),
        Index("idx_data_product_versions_product_id", "product_id"),
        Index("idx_data_product_versions_version", "version"),
        Index("idx_data_product_versions_created_at", "created_at"),
    )

    id: Mapped[str] = id_column()
    product_id: Mapped[str] = mapped_column(ForeignKey("data_products.id", ondelete="CASCADE"))
    version: Mapped[str] = mapped_column(String(100))
    major: Mapped[int] = mapped_column(Integer)
    minor: Mapped[int] = mapped_column(Integer)
    patch: Mapped[int] = mapped_column(Integer)
    prerelease: Mapped[str | None] = mapped_column(String(100))
    build: Mapped[str | None] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_by: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    created_at: Mapped[datetime] = created_at_column()
    deprecated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    deprecation_reason: Mapped[str | None] = mapped_column(Text)


class ProductElement(Base):
    __tablename__ = "product_elements"

    product_id: Mapped[str] = mapped_column(
        ForeignKey("data_products.id", ondelete="CASCADE"), primary_key=True
    )
    # RESTRICT: an element used by a product cannot vanish under it (409 names the products).
    data_element_id: Mapped[str] = mapped_column(
        ForeignKey("data_elements.id", ondelete="RESTRICT"), primary_key=True, index=True
    )
    role: Mapped[str | None] = mapped_column(String(100))
    added_by: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    created_at: Mapped[datetime] = created_at_column()


class ProductSchemaColumn(Base):
    """A column of a product's current dataset schema (one row each, read in `position` order).

    The current schema lives here to be read (and its coverage computed) without opening the
    latest version's snapshot; every version's snapshot keeps its own copy under `schema`.
    SET NULL: an element deleted from the registry leaves its column ungoverned, not blocked.
    """

    __tablename__ = "product_schema_columns"
    __table_args__ = (UniqueConstraint("product_id", "name"),)

    id: Mapped[str] = id_column()
    product_id: Mapped[str] = mapped_column(ForeignKey("data_products.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    physical_type: Mapped[str] = mapped_column(String(100))
    nullable: Mapped[bool] = mapped_column(Boolean, default=True)
    primary_key: Mapped[bool] = mapped_column(Boolean, default=False)
    default_value: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[list[str]] = mapped_column(JSONType, default=list)
    data_element_id: Mapped[str | None] = mapped_column(
        ForeignKey("data_elements.id", ondelete="SET NULL"), index=True
    )


class LineageEdge(Base):
    """`upstream` feeds `downstream`; either end is a product or a data element."""

    __tablename__ = "lineage_edges"
    __table_args__ = (
        UniqueConstraint("upstream_type", "upstream_id", "downstream_type", "downstream_id"),
        CheckConstraint(enum_check("upstream_type", LINEAGE_NODE_TYPES), name="upstream_type"),
        CheckConstraint(enum_check("downstream_type", LINEAGE_NODE_TYPES), name="downstream_type"),
        Index("idx_lineage_edges_downstream", "downstream_type", "downstream_id"),
    )

    id: Mapped[str] = id_column()
    upstream_type: Mapped[str] = mapped_column(String(20))
    upstream_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    downstream_type: Mapped[str] = mapped_column(String(20))
    downstream_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    relationship: Mapped[str] = mapped_column(String(50), default="feeds")
    description: Mapped[str] = mapped_column(Text, default="")
    # The OpenLineage job whose run drew this edge (`namespace/name`), None when made by hand.
    job: Mapped[str | None] = mapped_column(String(SOURCE_REF_LENGTH))
    created_by: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    created_at: Mapped[datetime] = created_at_column()


class ColumnLineageEdge(Base):
    """`upstream_column` of one product feeds `downstream_column` of another (or the same).

    Columns are named, not referenced by row: a product's schema columns are rewritten with each
    schema version, and the lineage of `orders.amount` outlives them while the name stays.
    """

    __tablename__ = "column_lineage_edges"
    __table_args__ = (
        UniqueConstraint(
            "upstream_product_id",
            "upstream_column",
            "downstream_product_id",
            "downstream_column",
            name="uq_column_lineage_edges",  # the generated name is longer than PostgreSQL's 63
        ),
        Index("idx_column_lineage_downstream", "downstream_product_id", "downstream_column"),
    )

    id: Mapped[str] = id_column()
    upstream_product_id: Mapped[str] = mapped_column(
        ForeignKey("data_products.id", ondelete="CASCADE")
    )
    upstream_column: Mapped[str] = mapped_column(String(NAME_LENGTH))
    downstream_product_id: Mapped[str] = mapped_column(
        ForeignKey("data_products.id", ondelete="CASCADE")
    )
    downstream_column: Mapped[str] = mapped_column(String(NAME_LENGTH))
    # What the job did to the value (OpenLineage's transformation, e.g. "DIRECT/AGGREGATION").
    transformation: Mapped[str] = mapped_column(String(NAME_LENGTH), default="")
    job: Mapped[str | None] = mapped_column(String(SOURCE_REF_LENGTH))
    created_at: Mapped[datetime] = created_at_column()
