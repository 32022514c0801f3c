"""Request and response models of API keys.

The key itself appears in one answer only, `ApiKeyCreated`; no model carries its hash.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, model_validator

from catalog.apikeys.keys import KeyStatus, key_status
from catalog.core.time import utcnow
from catalog.db.models import ApiKey
from catalog.db.models.admin import ROLES
from catalog.kit.schemas import AwareDatetime, Name, RequestModel, ResponseModel

Role = Literal["viewer", "editor", "steward", "admin"]
assert set(Role.__args__) == set(ROLES)  # type: ignore[attr-defined]

MAX_SCOPES = 50


def _future(value: datetime) -> datetime:
    if value <= utcnow():
        raise ValueError("must be in the future")
    return value


def _distinct(scopes: list[str]) -> list[str]:
    """Scopes are a set kept in the order given: repeats are dropped."""
    return list(dict.fromkeys(scopes))


class ApiKeyCreate(RequestModel):
    name: Name = Field(description="Unique among active keys; the principal is `api-key:<name>`")
    role: Role
    scopes: Annotated[list[Name], Field(max_length=MAX_SCOPES), AfterValidator(_distinct)] = Field(
        default_factory=list, description=f"At most {MAX_SCOPES} short strings"
    )
    expires_at: Annotated[AwareDatetime, AfterValidator(_future)] | None = Field(
        None, description="When the key stops working (timezone-aware, in the future)"
    )
    team: Name | None = Field(None, description="The team the key acts for")


# The two answers name a key in different orders, then state the same grant. Pydantic lists a
# model's fields from its last base to its first, then its own: `(_Grant, _Names)` is the names,
# then the grant.
class _Grant(ResponseModel):
    role: Role
    team: str | None
    scopes: list[str]
    created_by: str | None
    created_at: datetime
    expires_at: datetime | None


class _CreatedNames(ResponseModel):
    id: str
    key: str
    prefix: str
    name: str


class ApiKeyCreated(_Grant, _CreatedNames):
    """The answer to a creation: the only time `key` is shown. Store it now."""


class _Names(ResponseModel):
    id: str
    name: str
    prefix: str


class ApiKeyOut(_Grant, _Names):
    """A key as lists and reads show it: never the key, never its hash."""

    revoked_at: datetime | None
    last_used_at: datetime | None
    status: KeyStatus

    @model_validator(mode="before")
    @classmethod
    def _with_status(cls, data: Any) -> Any:
        # The status is derived from the row at the time of the answer, not stored.
        if isinstance(data, ApiKey):
            values = {name: getattr(data, name) for name in cls.model_fields if name != "status"}
            values["status"] = key_status(data.revoked_at, data.expires_at, utcnow())
            return values
        return data
