"""Pydantic building blocks shared by every domain's request and response models.

Request models forbid unknown fields (a typo in a field name is a 422, not silently ignored),
take JSON types strictly, and strip surrounding whitespace. Text types refuse control
characters: PostgreSQL rejects NUL in text, and nothing legitimate in a name contains a bell or
an escape.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    Strict,
    StringConstraints,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from catalog.core.json_value import JSONDocument

NAME_MAX = 200
TEXT_MAX = 10_000

# What validation refuses, said in the OpenAPI document too (JSON Schema `pattern`), so that
# generated clients refuse it before sending. The checks below and these patterns are the same
# rule twice (tests/contract/test_openapi.py holds them together); the checks stay because
# their messages say what is wrong, where a pattern mismatch would only quote the regex.
LINE_PATTERN = r"^[^\x00-\x1f\x7f]*$"
TEXT_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
# A line that is not blank: surrounding whitespace is stripped, and something must be left.
# The class spells out what str.strip() removes (regex dialects disagree on `\s`).
_BLANK = r"\x00-\x20\x7f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
FILLED_LINE_PATTERN = rf"^[^\x00-\x1f\x7f]*[^{_BLANK}][^\x00-\x1f\x7f]*$"

_CONTROL_IN_LINE = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_IN_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True)
class SchemaPattern:
    """Annotated metadata: adds `pattern` to a string's JSON Schema without validating it."""

    pattern: str

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema["pattern"] = self.pattern
        return json_schema


def _text(value: str) -> str:
    if _CONTROL_IN_TEXT.search(value):
        raise ValueError("must not contain control characters other than newlines and tabs")
    return value


def stripped_line(value: str) -> str:
    # Control characters first: some of them (\x1c-\x1f) are whitespace to str.strip().
    if _CONTROL_IN_LINE.search(value):
        raise ValueError("must not contain control characters")
    return value.strip()


def fit_line(value: str, limit: int = NAME_MAX) -> str:
    """Text from a source that cannot be asked to fix it (a crawled catalog, an OpenLineage
    event) made into a line these types accept: control characters become spaces, surrounding
    whitespace goes, and it is cut to `limit`. Blank stays blank: the caller decides."""
    return _CONTROL_IN_LINE.sub(" ", value).strip()[:limit].strip()


def fit_text(value: str, limit: int = TEXT_MAX) -> str:
    """As fit_line, for multi-line text (newlines and tabs kept)."""
    return _CONTROL_IN_TEXT.sub(" ", value)[:limit]


def filled(value: str) -> str:
    if not value:
        raise ValueError("must not be blank")
    return value


# RFC 3339 date-time, the JSON Schema `date-time` format: pydantic alone would also take
# "0.5" (seconds since 1970) or a bare date.
_DATE_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})"
)


def _rfc3339(value: object) -> object:
    if isinstance(value, str) and not _DATE_TIME.fullmatch(value):
        raise ValueError(
            "must be an RFC 3339 date-time with a timezone (e.g. 2026-01-01T00:00:00Z)"
        )
    return value


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("must include a timezone (e.g. 2026-01-01T00:00:00Z)")
    return value


# One line of text, surrounding whitespace stripped. Lengths count the text as sent (so the
# schema's maxLength is exact), before stripping; FILLED: something must be left.
FILLED = (AfterValidator(stripped_line), AfterValidator(filled), SchemaPattern(FILLED_LINE_PATTERN))
LINE = (AfterValidator(stripped_line), SchemaPattern(LINE_PATTERN))
Name = Annotated[str, StringConstraints(min_length=1, max_length=NAME_MAX), *FILLED]
ShortText = Annotated[str, StringConstraints(max_length=NAME_MAX), *LINE]
Identifier = Annotated[str, StringConstraints(min_length=1, max_length=500), *FILLED]
LongText = Annotated[
    str, StringConstraints(max_length=TEXT_MAX), AfterValidator(_text), SchemaPattern(TEXT_PATTERN)
]
# JSON has no datetime: it arrives as a string, which strict request models would refuse.
AwareDatetime = Annotated[
    datetime, Strict(False), BeforeValidator(_rfc3339), AfterValidator(_aware)
]
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]


def _integral(value: object) -> object:
    return int(value) if isinstance(value, float) and value.is_integer() else value


# Metadata of request integers, after their constraints (`Annotated[int, Field(ge=0),
# INTEGRAL]`: before them, the constraints would leave the schema): a JSON Schema integer is
# 3 and 3.0 alike, and strict models would refuse 3.0 as an int otherwise.
INTEGRAL = BeforeValidator(_integral)
# Free-form JSON in the OpenAPI document: strings (values and keys) without NUL, nested
# through the `StorableJSON` component (server/openapi.py adds it), so a generated client
# refuses what both databases cannot store. (Depth and size bounds are in the description.)
STORABLE_JSON = "StorableJSON"
NO_NUL_PATTERN = "^[^\\u0000]*$"


def storable_json_schema() -> dict[str, Any]:
    """The `StorableJSON` component: any JSON value whose strings hold no NUL."""
    ref = {"$ref": f"#/components/schemas/{STORABLE_JSON}"}
    return {
        "anyOf": [
            {"type": "string", "pattern": NO_NUL_PATTERN},
            {"type": ["number", "integer", "boolean", "null"]},
            {"type": "array", "items": ref},
            {
                "type": "object",
                "propertyNames": {"pattern": NO_NUL_PATTERN},
                "additionalProperties": ref,
            },
        ]
    }


@dataclass(frozen=True)
class _StorableObject:
    """Annotated metadata: a JSON object's schema says its values are StorableJSON."""

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema["propertyNames"] = {"pattern": NO_NUL_PATTERN}
        json_schema["additionalProperties"] = {"$ref": f"#/components/schemas/{STORABLE_JSON}"}
        return json_schema


# A JSON object both databases store as given (no NUL, NaN, lone surrogates; bounded depth).
JSONObject = Annotated[JSONDocument, _StorableObject()]
# Rows keep their JSON `metadata` in the attribute `metadata_` (SQLAlchemy's declarative base
# reserves `metadata`): answers read it from there and call it `metadata`, and an update's
# `metadata` goes back to the attribute (`metadata_to_attribute`).
METADATA_ATTRIBUTE = "metadata_"
StoredMetadata = Annotated[dict[str, Any], Field(validation_alias=METADATA_ATTRIBUTE)]


def metadata_to_attribute(changes: dict[str, Any]) -> dict[str, Any]:
    """An update's changes as row attributes: `metadata` renamed to `metadata_` (in place)."""
    if "metadata" in changes:
        changes[METADATA_ATTRIBUTE] = changes.pop("metadata")
    return changes


class RequestModel(BaseModel):
    """Base of request bodies: unknown fields are errors, and types are strict (JSON types as
    the schema says: `false` is not a number, `"3"` not an integer, `1` not a boolean)."""

    model_config = ConfigDict(extra="forbid", strict=True)


class ResponseModel(BaseModel):
    """Base of response bodies, built from ORM rows."""

    model_config = ConfigDict(from_attributes=True)
