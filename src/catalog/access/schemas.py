"""Request and response models of access requests."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from catalog.core.time import utcnow
from catalog.db.models.access import ACCESS_STATUSES
from catalog.kit.schemas import (
    AwareDatetime,
    Identifier,
    LongText,
    Name,
    RequestModel,
    ResponseModel,
    ShortText,
)

AccessStatus = Literal["pending", "approved", "rejected", "revoked", "cancelled"]
assert set(AccessStatus.__args__) == set(ACCESS_STATUSES)  # type: ignore[attr-defined]


def _future(value: datetime) -> datetime:
    if value <= utcnow():
        raise ValueError("must be in the future")
    return value


class AccessRequestCreate(RequestModel):
    product_id: Identifier
    reason: Annotated[LongText, Field(min_length=1)]
    comments: LongText | None = Field(None, description="The requester's notes beside the reason")
    requester_team: ShortText | None = None
    expires_at: Annotated[AwareDatetime, AfterValidator(_future)] | None = Field(
        None, description="When the granted access should end (timezone-aware, in the future)"
    )


class UpstreamAccessRequestCreate(AccessRequestCreate):
    """The upstream service's body: it names the requester. Without authentication that name
    is taken; with it the principal is the requester and another name is refused (403)."""

    requester_id: Name | None = Field(
        None, description="Who asks; with authentication on it must be the caller's subject"
    )


class Decision(RequestModel):
    """Body of approve, reject and revoke; the whole body is optional."""

    comments: LongText | None = None


class AccessRequestOut(ResponseModel):
    id: str
    product_id: str
    requester: str
    requester_team: str | None
    reason: str
    comments: str | None
    status: AccessStatus
    requested_at: datetime
    expires_at: datetime | None
    decided_by: str | None
    decided_at: datetime | None
    decision_comments: str | None
    revoked_by: str | None
    revoked_at: datetime | None
    revoke_comments: str | None
    updated_at: datetime
