"""Request and response models of subscriptions and their deliveries."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, Self

from pydantic import Field, StringConstraints, model_validator

from catalog.changes.events import EventType
from catalog.db.models.notify import CHANNELS, DELIVERY_STATUSES
from catalog.kit.schemas import Identifier, Name, RequestModel, ResponseModel

Channel = Literal["webhook", "slack", "email"]
assert set(Channel.__args__) == set(CHANNELS)  # type: ignore[attr-defined]
DeliveryStatus = Literal["pending", "delivered", "dead"]
assert set(DeliveryStatus.__args__) == set(DELIVERY_STATUSES)  # type: ignore[attr-defined]

Url = Annotated[str, StringConstraints(min_length=1, max_length=2000, pattern=r"^https?://\S+$")]
Email = Annotated[
    str, StringConstraints(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
]
Secret = Annotated[str, StringConstraints(min_length=16, max_length=200, pattern=r"^\S+$")]


class SubscriptionCreate(RequestModel):
    """What to hear of (at most one of product, tag with its subtree, team; none: every event
    the caller may see), which event types (none: all), and where it goes."""

    product_id: Identifier | None = None
    tag: Name | None = Field(None, description="A tag's name or id; its subtree is included")
    team: Name | None = None
    event_types: list[EventType] = Field(default_factory=list, max_length=20)
    channel: Channel = "webhook"
    url: Url | None = Field(None, description="webhook and slack: where to POST")
    secret: Secret | None = Field(
        None,
        description="webhook: the HMAC key of X-Catalog-Signature (16+ characters); one is "
        "made and shown once in the answer when omitted",
    )
    email: Email | None = Field(None, description="email: the address to write to")

    @model_validator(mode="after")
    def _one_scope_and_a_target(self) -> Self:
        scopes = [s for s in (self.product_id, self.tag, self.team) if s is not None]
        if len(scopes) > 1:
            raise ValueError("give at most one of product_id, tag and team")
        if self.channel in ("webhook", "slack") and self.url is None:
            raise ValueError(f"a {self.channel} subscription needs a url")
        if self.channel == "email" and self.email is None:
            raise ValueError("an email subscription needs an email")
        if self.channel != "webhook" and self.secret is not None:
            raise ValueError("only webhook subscriptions are signed: drop the secret")
        return self


class SubscriptionOut(ResponseModel):
    id: str
    owner: str
    product_id: str | None
    tag_id: str | None
    team: str | None
    event_types: list[str]
    channel: Channel
    url: str | None
    email: str | None
    created_at: datetime


class SubscriptionCreated(SubscriptionOut):
    secret: str | None = Field(
        None, description="webhook: the signing secret; shown in this answer only"
    )


class DeliveryOut(ResponseModel):
    id: int
    event_id: str
    event_type: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime
    last_status: int | None
    last_error: str
    created_at: datetime
    delivered_at: datetime | None


class ReplayOut(ResponseModel):
    requeued: int = Field(description="dead-lettered deliveries queued again")
