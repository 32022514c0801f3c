"""Request and response models of the ISO/IEC 11179 registry."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, model_validator

from catalog.db.models.registry import DATA_TYPES, REGISTRATION_STATUSES, VALUE_DOMAIN_TYPES
from catalog.kit.schemas import (
    INTEGRAL,
    Identifier,
    JSONObject,
    LongText,
    Name,
    RequestModel,
    ResponseModel,
    ShortText,
    StoredMetadata,
)

DataType = Literal["string", "integer", "decimal", "boolean", "date", "datetime"]
assert set(DataType.__args__) == set(DATA_TYPES)  # type: ignore[attr-defined]
ValueDomainType = Literal["enumerated", "non_enumerated"]
assert set(ValueDomainType.__args__) == set(VALUE_DOMAIN_TYPES)  # type: ignore[attr-defined]
RegistrationStatus = Literal["draft", "published", "deprecated", "archived"]
assert set(RegistrationStatus.__args__) == set(REGISTRATION_STATUSES)  # type: ignore[attr-defined]
PATTERN_MAX = 500

# --- data element concepts -----------------------------------------------------------------


class ConceptCreate(RequestModel):
    name: Name
    object_class: Name
    property: Name
    definition: LongText = ""


class ConceptUpdate(RequestModel):
    name: Name | None = None
    object_class: Name | None = None
    property: Name | None = None
    definition: LongText | None = None


class ConceptOut(ResponseModel):
    id: str
    name: str
    object_class: str
    property: str
    definition: str
    created_by: str | None
    created_at: datetime
    updated_at: datetime


# --- value domains -------------------------------------------------------------------------

ConstraintType = Literal["min", "max", "min_length", "max_length", "length", "pattern", "range"]


class Constraint(RequestModel):
    """One rule of a non-enumerated value domain.

    `min`/`max`: a number (or an ISO date/datetime for date types); `min_length`,
    `max_length`, `length`: a non-negative integer; `pattern`: a regular expression the whole
    value must match; `range`: `{"min": x, "max": y}` (either bound optional).
    """

    type: ConstraintType
    value: Any

    @model_validator(mode="after")
    def _value_fits_type(self) -> Constraint:
        kind, value = self.type, self.value
        if kind in {"min_length", "max_length", "length"}:
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{kind} takes a non-negative integer")
        elif kind == "pattern":
            if not isinstance(value, str) or not value or len(value) > PATTERN_MAX:
                raise ValueError(f"pattern takes a non-empty string of at most {PATTERN_MAX}")
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"pattern is not a valid regular expression: {exc}") from None
        elif kind == "range":
            if not isinstance(value, dict) or not set(value) <= {"min", "max"} or not value:
                raise ValueError('range takes {"min": x, "max": y}')
            _bound_pair(value.get("min"), value.get("max"))
        else:
            _bound(value)
        return self


def _bound(value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError("a bound is a number or an ISO date/datetime string")


def _bound_pair(low: Any, high: Any) -> None:
    for bound in (low, high):
        if bound is not None:
            _bound(bound)
    if low is not None and high is not None and type(low) is type(high) and low > high:
        raise ValueError("range min is greater than max")


class PermissibleValueIn(RequestModel):
    value: Name
    meaning: LongText = ""


class ValueDomainCreate(RequestModel):
    # The shape rules of `_shape_fits_type`, declared (duplicate values cannot be: JSON Schema
    # has no "unique by key"; the contract test's configuration says so).
    model_config = ConfigDict(
        json_schema_extra={
            "if": {"properties": {"type": {"const": "enumerated"}}},
            "then": {
                "required": ["permissible_values"],
                "properties": {
                    "permissible_values": {"minItems": 1},
                    "constraints": {"maxItems": 0},
                },
            },
            "else": {"properties": {"permissible_values": {"maxItems": 0}}},
        }
    )

    name: Name
    type: ValueDomainType
    data_type: DataType = "string"
    unit_of_measure: ShortText | None = None
    description: LongText = ""
    permissible_values: Annotated[list[PermissibleValueIn], Field(max_length=10_000)] = []
    constraints: Annotated[list[Constraint], Field(max_length=50)] = []

    @model_validator(mode="after")
    def _shape_fits_type(self) -> ValueDomainCreate:
        if self.type == "enumerated":
            if not self.permissible_values:
                raise ValueError("an enumerated value domain needs permissible_values")
            if self.constraints:
                raise ValueError("constraints apply to non_enumerated value domains only")
            values = [pv.value for pv in self.permissible_values]
            duplicates = sorted({v for v in values if values.count(v) > 1})
            if duplicates:
                raise ValueError(f"duplicate permissible values: {', '.join(duplicates[:5])}")
        elif self.permissible_values:
            raise ValueError("permissible_values apply to enumerated value domains only")
        return self


class ValueDomainUpdate(RequestModel):
    name: Name | None = None
    description: LongText | None = None
    unit_of_measure: ShortText | None = None


class PermissibleValueOut(ResponseModel):
    value: str
    meaning: str


class ValueDomainOut(ResponseModel):
    id: str
    name: str
    type: str
    data_type: str
    unit_of_measure: str | None
    description: str
    constraints: list[dict[str, Any]]
    permissible_values: list[PermissibleValueOut]
    created_by: str | None
    created_at: datetime
    updated_at: datetime


class ValueDomainSummary(ResponseModel):
    """List item: without the (possibly long) permissible value list."""

    id: str
    name: str
    type: str
    data_type: str
    unit_of_measure: str | None
    description: str
    created_at: datetime
    updated_at: datetime


class ValidateIn(RequestModel):
    value: Any


class ValidateOut(ResponseModel):
    valid: bool
    reason: str | None = None
    constraint: str | None = None


# --- representations -----------------------------------------------------------------------


class RepresentationCreate(RequestModel):
    name: Name
    data_type: DataType = "string"
    format: ShortText | None = None
    length: Annotated[int, Field(ge=0, le=1_000_000), INTEGRAL] | None = None
    precision: Annotated[int, Field(ge=0, le=1000), INTEGRAL] | None = None
    scale: Annotated[int, Field(ge=0, le=1000), INTEGRAL] | None = None
    unit_of_measure: ShortText | None = None
    value_domain_id: Identifier | None = None


class RepresentationUpdate(RequestModel):
    name: Name | None = None
    format: ShortText | None = None
    length: Annotated[int, Field(ge=0, le=1_000_000), INTEGRAL] | None = None
    precision: Annotated[int, Field(ge=0, le=1000), INTEGRAL] | None = None
    scale: Annotated[int, Field(ge=0, le=1000), INTEGRAL] | None = None
    unit_of_measure: ShortText | None = None
    value_domain_id: Identifier | None = None


class RepresentationOut(ResponseModel):
    id: str
    name: str
    data_type: str
    format: str | None
    length: int | None
    precision: int | None
    scale: int | None
    unit_of_measure: str | None
    value_domain_id: str | None
    created_by: str | None
    created_at: datetime
    updated_at: datetime


# --- data elements -------------------------------------------------------------------------


def _one_of(part: str) -> dict[str, Any]:
    """JSON Schema of `_one_of_each`: `{part}_id` or an inline `{part}`, exactly one (a null
    counts as not given)."""
    given = {part: {"type": "object"}, f"{part}_id": {"type": "string"}}
    return {
        "oneOf": [
            {"required": [name], "properties": {name: kind, other: {"type": "null"}}}
            for (name, kind), other in zip(given.items(), reversed(given), strict=True)
        ]
    }


class DataElementCreate(RequestModel):
    """A data element; its concept and representation are named by id or given inline.

    Inline ones are reused when one of that name exists, created otherwise, so a client
    registers an element in one call.
    """

    name: Name
    definition: LongText = ""
    identifier: Identifier | None = None
    data_element_concept_id: Identifier | None = None
    data_element_concept: ConceptCreate | None = None
    representation_id: Identifier | None = None
    representation: RepresentationCreate | None = None
    steward: ShortText | None = None
    source: ShortText | None = None
    metadata: JSONObject = {}

    model_config = ConfigDict(
        json_schema_extra={"allOf": [_one_of("data_element_concept"), _one_of("representation")]}
    )

    @model_validator(mode="after")
    def _one_of_each(self) -> DataElementCreate:
        for part in ("data_element_concept", "representation"):
            given = [getattr(self, f"{part}_id") is not None, getattr(self, part) is not None]
            if given == [True, True]:
                raise ValueError(f"give {part}_id or {part}, not both")
            if given == [False, False]:
                raise ValueError(f"{part}_id or an inline {part} is required")
        return self


class DataElementUpdate(RequestModel):
    name: Name | None = None
    definition: LongText | None = None
    steward: ShortText | None = None
    source: ShortText | None = None
    data_element_concept_id: Identifier | None = None
    representation_id: Identifier | None = None
    metadata: JSONObject | None = None


class DataElementOut(ResponseModel):
    id: str
    identifier: str
    name: str
    definition: str
    data_element_concept_id: str | None
    representation_id: str | None
    steward: str | None
    source: str | None
    registration_status: RegistrationStatus
    version: int
    quality_score: float | None
    quality_level: str | None
    metadata: StoredMetadata
    created_by: str | None
    created_at: datetime
    updated_at: datetime
    published_at: datetime | None
    deprecated_at: datetime | None
