"""Pydantic building blocks shared by every domain's request and response models.

Request models forbid unknown fields (a typo in a field name is a 422, not silently ignored)
and strip surrounding whitespace. Text types refuse control characters: PostgreSQL rejects
NUL in text, and nothing legitimate in a name contains a bell or an escape.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from catalog.kit.json_value import JSONDocument

NAME_MAX = 200
TEXT_MAX = 10_000

_CONTROL_IN_LINE = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_IN_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _single_line(value: str) -> str:
    if _CONTROL_IN_LINE.search(value):
        raise ValueError("must not contain control characters")
    return value


def _text(value: str) -> str:
    if _CONTROL_IN_TEXT.search(value):
        raise ValueError("must not contain control characters other than newlines and tabs")
    return value


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("must include a timezone (e.g. 2026-01-01T00:00:00Z)")
    return value


Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=NAME_MAX),
    AfterValidator(_single_line),
]
ShortText = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=NAME_MAX), AfterValidator(_single_line)
]
LongText = Annotated[str, StringConstraints(max_length=TEXT_MAX), AfterValidator(_text)]
Identifier = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=500),
    AfterValidator(_single_line),
]
AwareDatetime = Annotated[datetime, AfterValidator(_aware)]
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
# A JSON object both databases store as given (no NUL, NaN, lone surrogates; bounded depth).
JSONObject = JSONDocument


class RequestModel(BaseModel):
    """Base of request bodies: unknown fields are errors."""

    model_config = ConfigDict(extra="forbid")


class ResponseModel(BaseModel):
    """Base of response bodies, built from ORM rows."""

    model_config = ConfigDict(from_attributes=True)
