"""Request and response models of tags and product tags."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import model_validator
from pydantic.json_schema import SkipJsonSchema

from catalog.db.models.tags import TAG_SOURCES
from catalog.kit.schemas import (
    Fraction,
    Identifier,
    LongText,
    Name,
    RequestModel,
    ResponseModel,
)

TagSource = Literal["manual", "auto", "suggested"]
assert set(TagSource.__args__) == set(TAG_SOURCES)  # type: ignore[attr-defined]

DEFAULT_CATEGORY = "general"


class TagCreate(RequestModel):
    name: Name
    category: Name = DEFAULT_CATEGORY
    parent_tag_id: Identifier | None = None
    description: LongText = ""


class TagUpdate(RequestModel):
    """Only the fields sent change; `parent_tag_id: null` makes the tag a root."""

    # May be left out, not null (SkipJsonSchema: the document says so; the check below too).
    name: Name | SkipJsonSchema[None] = None
    category: Name | SkipJsonSchema[None] = None
    description: LongText | SkipJsonSchema[None] = None
    parent_tag_id: Identifier | None = None

    @model_validator(mode="after")
    def _no_null_values(self) -> TagUpdate:
        # null means "no parent" for parent_tag_id only; for the others it is a mistake.
        nulls = [
            field
            for field in ("name", "category", "description")
            if field in self.model_fields_set and getattr(self, field) is None
        ]
        if nulls:
            raise ValueError(f"{', '.join(nulls)} cannot be null")
        return self


class TagOut(ResponseModel):
    id: str
    name: str
    category: str
    description: str
    parent_tag_id: str | None
    usage_count: int
    created_by: str | None
    created_at: datetime
    updated_at: datetime


class TagNode(TagOut):
    children: list[TagNode]


class TagTree(ResponseModel):
    """`GET /api/tags?tree=true`: every matching tag once, nested under its parent.

    Documents the answer's shape; the answer itself is rendered by `tags.tree`.
    """

    items: list[TagNode]
    total: int
    limit: int
    offset: int


class ProductTagIn(RequestModel):
    tag_id: Identifier
    confidence: Fraction = 1.0
    source: TagSource = "manual"


class ProductTagOut(ResponseModel):
    product_id: str
    tag_id: str
    tag_name: str
    tag_category: str
    confidence: float
    source: TagSource
    created_by: str | None
    created_at: datetime
