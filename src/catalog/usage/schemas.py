"""Request and response models of product usage: view and rating events, and the stats."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field

from catalog.kit.schemas import INTEGRAL, LongText, Name, RequestModel, ResponseModel

Rating = Annotated[int, Field(ge=1, le=5, description="1 (poor) to 5 (excellent)"), INTEGRAL]


class ViewEvent(RequestModel):
    """Someone looked at the product; without `user_id` it counts as an anonymous view."""

    event: Literal["view"]
    user_id: Name | None = None


class RatingEvent(RequestModel):
    """A user's rating; a later rating by the same user replaces the earlier one."""

    event: Literal["rating"]
    user_id: Name
    rating: Rating
    comment: LongText | None = Field(None, description="Omitted on a re-rating: keep the old one")


UsageEvent = Annotated[ViewEvent | RatingEvent, Field(discriminator="event")]


class UsageStatsOut(ResponseModel):
    product_id: str
    view_count: int = 0
    unique_viewers: int = 0
    access_requests: int = 0
    approved_access: int = 0
    rejected_access: int = 0
    rating_count: int = 0
    rating_sum: int = 0
    average_rating: float | None = Field(None, description="Null until someone rates")
    last_viewed_at: datetime | None = None
    updated_at: datetime | None = None

    @classmethod
    def of(cls, product_id: str, row: object | None) -> UsageStatsOut:
        """The stats of a stats row, or all zeros when the product has none (yet)."""
        if row is None:
            return cls(product_id=product_id)
        stats = cls.model_validate(row)
        if stats.rating_count:
            stats.average_rating = round(stats.rating_sum / stats.rating_count, 4)
        return stats
