"""HTTP routes of product usage: record a view or a rating, read the stats."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body

from catalog.core.error_schema import error_responses
from catalog.server.deps import Session
from catalog.server.retrying_route import RetryingRoute
from catalog.server.roles import Viewer
from catalog.usage import schemas
from catalog.usage.service import UsageService

USAGE = "/api/data-products/{product_id}/usage"

router = APIRouter(tags=["usage"], route_class=RetryingRoute)


@router.post(USAGE, status_code=201, responses=error_responses(404))
async def record_usage(
    product_id: str,
    event: Annotated[schemas.UsageEvent, Body()],
    session: Session,
    actor: Viewer,
) -> schemas.UsageStatsOut:
    """Record a `view` (user optional) or a `rating` (1-5, one per user, re-rating replaces
    it); answers the product's stats as they stand after the event."""
    return await UsageService(session, actor).record(product_id, event)


@router.get(USAGE, responses=error_responses(404))
async def get_usage(product_id: str, session: Session, actor: Viewer) -> schemas.UsageStatsOut:
    return await UsageService(session, actor).stats(product_id)
