"""Request and response models of regulatory schemas, their changes and product mappings."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, StringConstraints

from catalog.core.json_value import JSONDocument
from catalog.db.models.regulatory import CHANGE_TYPES, SCHEMA_STATUSES
from catalog.kit.schemas import (
    FILLED,
    LINE,
    Identifier,
    LongText,
    RequestModel,
    ResponseModel,
)
from catalog.kit.spec_diff import MAX_PATH

SchemaStatus = Literal["draft", "approved", "deprecated"]
assert set(SchemaStatus.__args__) == set(SCHEMA_STATUSES)  # type: ignore[attr-defined]
ChangeType = Literal["added", "modified", "removed"]
assert set(ChangeType.__args__) == set(CHANGE_TYPES)  # type: ignore[attr-defined]

# A top-level key of a spec is a path segment of its own; keeping keys short leaves room for
# the nested ones within the stored path's MAX_PATH characters.
SPEC_KEY_MAX = 200


def _short_keys(spec: dict[str, Any]) -> dict[str, Any]:
    if any(len(key) > SPEC_KEY_MAX for key in spec):
        raise ValueError(f"top-level keys hold at most {SPEC_KEY_MAX} characters")
    return spec


RegulatoryType = Annotated[str, StringConstraints(min_length=1, max_length=100), *FILLED]
Version = Annotated[str, StringConstraints(min_length=1, max_length=100), *FILLED]
DocumentSource = Annotated[str, StringConstraints(max_length=500), *LINE]
DocumentVersion = Annotated[str, StringConstraints(max_length=100), *LINE]
FieldPath = Annotated[str, StringConstraints(min_length=1, max_length=MAX_PATH), *FILLED]
Spec = Annotated[JSONDocument, AfterValidator(_short_keys)]


class SchemaCreate(RequestModel):
    regulatory_type: RegulatoryType
    version: Version
    document_source: DocumentSource | None = None
    document_version: DocumentVersion | None = None
    spec_json: Spec


class SchemaStatusUpdate(RequestModel):
    status: SchemaStatus


class SchemaOut(ResponseModel):
    id: str
    regulatory_type: str
    version: str
    document_source: str | None
    document_version: str | None
    spec_json: dict[str, Any]
    status: SchemaStatus
    created_by: str | None
    approved_by: str | None
    approved_at: datetime | None
    created_at: datetime
    updated_at: datetime


class ChangeOut(ResponseModel):
    id: str
    field_path: str
    change_type: ChangeType
    old_value: Any
    new_value: Any
    breaking: bool
    detected_at: datetime


class ChangesOut(ResponseModel):
    schema_id: str
    previous_schema_id: str | None
    previous_version: str | None
    changes: list[ChangeOut]
    breaking: int


class MappingCreate(RequestModel):
    field_path: FieldPath
    product_id: Identifier
    data_element_id: Identifier | None = None
    transformation: LongText = ""


class MappingOut(ResponseModel):
    id: str
    schema_id: str
    field_path: str
    product_id: str
    data_element_id: str | None
    transformation: str
    created_by: str | None
    created_at: datetime
    updated_at: datetime
