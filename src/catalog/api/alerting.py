"""`GET /api/admin/alerts`: the alerts the service raised about itself, active first.

A thin read of the `alerts` table the alert engine (engine.py) writes.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter

from catalog.alerting.repository import AlertRepository
from catalog.alerting.schemas import AlertOut
from catalog.core.error_schema import error_responses
from catalog.kit.pagination import Page, Paging
from catalog.kit.projection import Fields, page_of
from catalog.server.deps import Session
from catalog.server.retrying_route import RetryingRoute
from catalog.server.roles import Admin

router = APIRouter(tags=["admin"], route_class=RetryingRoute)


@router.get("/api/admin/alerts", response_model=Page[AlertOut], responses=error_responses(403))
async def list_alerts(
    session: Session,
    actor: Admin,
    page: Paging,
    fields: Fields,
    status: Literal["firing", "resolved"] | None = None,
    alert_type: str | None = None,
) -> Any:
    """Active (firing) alerts first, then the most recent resolved ones."""
    repo = AlertRepository(session)
    rows, total = await repo.paginate(repo.listing(status, alert_type), page.limit, page.offset)
    return page_of(AlertOut, rows, total, page, fields)
