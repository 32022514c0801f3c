"""Request and response models of data products."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

import semver
from pydantic import AfterValidator, Field

from catalog.db.models.products import PRODUCT_STATUSES, VISIBILITIES
from catalog.kit.schemas import (
    Identifier,
    JSONObject,
    LongText,
    Name,
    RequestModel,
    ResponseModel,
    SchemaPattern,
    ShortText,
    StoredMetadata,
)

ProductStatus = Literal["draft", "published", "deprecated"]
assert set(ProductStatus.__args__) == set(PRODUCT_STATUSES)  # type: ignore[attr-defined]
Visibility = Literal["public", "internal", "restricted"]
assert set(Visibility.__args__) == set(VISIBILITIES)  # type: ignore[attr-defined]
NodeType = Literal["product", "element"]
Direction = Literal["upstream", "downstream", "both"]


# semver.org's own expression, with [0-9] for \d (Python's \d also matches other scripts'
# digits) and at most 9 digits for MAJOR, MINOR and PATCH (stored as 32-bit integers); the
# same text is the schema's pattern.
SEMVER_PATTERN = (
    r"^(0|[1-9][0-9]{0,8})\.(0|[1-9][0-9]{0,8})\.(0|[1-9][0-9]{0,8})"
    r"(?:-((?:0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*)"
    r"(?:\.(?:0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)
_SEMVER = re.compile(SEMVER_PATTERN)


def _semver(value: str) -> str:
    if not _SEMVER.match(value) or not semver.Version.is_valid(value):
        raise ValueError(
            "not a semantic version (MAJOR.MINOR.PATCH with optional -prerelease and +build, "
            "e.g. 1.2.0 or 2.0.0-rc.1)"
        )
    return value


SemVer = Annotated[
    str, Field(max_length=100), AfterValidator(_semver), SchemaPattern(SEMVER_PATTERN)
]


class ProductCreate(RequestModel):
    name: Name
    description: LongText = ""
    team: Name
    category: Name
    owner: Name
    status: ProductStatus = "draft"
    visibility: Visibility = "public"
    metadata: JSONObject = {}


class ProductUpdate(RequestModel):
    name: Name | None = None
    description: LongText | None = None
    team: Name | None = None
    category: Name | None = None
    owner: Name | None = None
    status: ProductStatus | None = None
    visibility: Visibility | None = None
    metadata: JSONObject | None = None


class ProductHeading(ResponseModel):
    # What every answer about a product starts with: ProductOut here, and discovery's search
    # results and marketplace items (discover/schemas.py). Not an answer of its own.
    id: str
    name: str
    description: str
    team: str
    category: str
    owner: str


class ProductOut(ProductHeading):
    status: ProductStatus
    visibility: Visibility
    metadata: StoredMetadata
    source_ref: str | None = Field(
        description="Where the crawler or OpenLineage found it (none when made by hand)"
    )
    governed_column_coverage: float | None = Field(
        description="Share of schema columns bound to a defined element with a value domain"
    )
    revision: int
    created_by: str | None
    created_at: datetime
    updated_at: datetime


class VersionCreate(RequestModel):
    version: SemVer
    description: LongText = ""


class VersionDeprecate(RequestModel):
    reason: Annotated[LongText, Field(min_length=1)]


class VersionOut(ResponseModel):
    id: str
    product_id: str
    version: str
    major: int
    minor: int
    patch: int
    prerelease: str | None
    build: str | None
    description: str
    snapshot: dict[str, Any]
    created_by: str | None
    created_at: datetime
    deprecated_at: datetime | None
    deprecation_reason: str | None


class VersionList(ResponseModel):
    items: list[VersionOut]
    total: int
    order: Literal["asc", "desc"]


class MemberIn(RequestModel):
    data_element_id: Identifier
    role: ShortText | None = None


class MemberOut(ResponseModel):
    data_element_id: str
    identifier: str
    name: str
    registration_status: str
    role: str | None
    added_by: str | None
    created_at: datetime


class LineageIn(RequestModel):
    upstream_id: Identifier
    upstream_type: NodeType = "product"
    relationship: Annotated[str, Field(min_length=1, max_length=50)] = "feeds"
    description: LongText = ""


class LineageNode(ResponseModel):
    type: NodeType
    id: str
    name: str | None
    depth: int


class LineageEdgeOut(ResponseModel):
    upstream_type: NodeType
    upstream_id: str
    downstream_type: NodeType
    downstream_id: str
    relationship: str
    job: str | None = Field(None, description="The OpenLineage job that drew it, if one did")


class LineageOut(ResponseModel):
    product_id: str
    direction: Direction
    depth: int
    nodes: list[LineageNode]
    edges: list[LineageEdgeOut]
    truncated: bool


# --- dataset schemas -----------------------------------------------------------------------

MAX_COLUMNS = 2000  # one request, one snapshot: a bound on both (and on the element lookups)


class ColumnIn(RequestModel):
    """A column of a dataset schema. Without `data_element_id` its data element is the one
    of the same name (whose representation must have the physical type's data type) or a new
    draft element."""

    name: Name
    physical_type: Annotated[Name, Field(max_length=100)]
    nullable: bool = True
    primary_key: bool = False
    default: ShortText | None = None
    description: LongText = ""
    tags: Annotated[list[Name], Field(max_length=50)] = []
    data_element_id: Identifier | None = None


def _distinct_names(columns: list[ColumnIn]) -> list[ColumnIn]:
    seen: set[str] = set()
    for column in columns:
        if column.name in seen:
            raise ValueError(f"column {column.name!r} appears more than once")
        seen.add(column.name)
    return columns


class SchemaPut(RequestModel):
    version: SemVer
    columns: Annotated[
        list[ColumnIn], Field(min_length=1, max_length=MAX_COLUMNS), AfterValidator(_distinct_names)
    ]
    notes: LongText = ""


class ColumnOut(ResponseModel):
    name: str
    physical_type: str
    nullable: bool
    primary_key: bool
    default: str | None
    description: str
    tags: list[str]
    data_element_id: str | None


class SchemaOut(ResponseModel):
    product_id: str
    columns: list[ColumnOut]
    governed_column_coverage: float | None


class SchemaChange(ResponseModel):
    field_path: str
    change_type: Literal["added", "modified", "removed"]
    old_value: Any
    new_value: Any
    breaking: bool


class SchemaVersionOut(VersionOut):
    changes: list[SchemaChange]
    breaking: bool


# --- column lineage ------------------------------------------------------------------------


class ColumnNode(ResponseModel):
    product_id: str
    product_name: str
    column: str
    depth: int


class ColumnEdgeOut(ResponseModel):
    upstream_product_id: str
    upstream_column: str
    downstream_product_id: str
    downstream_column: str
    transformation: str
    job: str | None


class ColumnLineageOut(ResponseModel):
    product_id: str
    column: str
    direction: Direction
    depth: int
    nodes: list[ColumnNode]
    edges: list[ColumnEdgeOut]
    truncated: bool
