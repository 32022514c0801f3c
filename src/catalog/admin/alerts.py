"""`GET /api/admin/alerts`: the alerts the service raised about itself, active first.

A thin read of the `alerts` table the alert engine (catalog.platform.alerting) writes; kept
apart from the API-key routes so each module reads in one sitting.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter
from sqlalchemy import Select, case, select

from catalog.db.models import Alert
from catalog.deps import Session
from catalog.kit.pagination import Page, Paging
from catalog.kit.projection import Fields, page_of
from catalog.kit.repository import Repository
from catalog.kit.schemas import ResponseModel
from catalog.platform.error_schema import error_responses
from catalog.platform.retrying_route import RetryingRoute
from catalog.platform.roles import Admin

router = APIRouter(tags=["admin"], route_class=RetryingRoute)


class AlertOut(ResponseModel):
    id: str
    fingerprint: str
    alert_type: str
    severity: str
    status: Literal["firing", "resolved"]
    summary: str
    description: str
    labels: dict[str, str]
    instance: str
    starts_at: datetime
    ends_at: datetime | None
    last_seen_at: datetime
    last_notified_at: datetime | None
    deliveries: dict[str, str]


class AlertRepository(Repository[Alert]):
    model = Alert

    def listing(self, status: str | None, alert_type: str | None) -> Select[Any]:
        statement = select(Alert).order_by(
            case((Alert.status == "firing", 0), else_=1), Alert.starts_at.desc(), Alert.id
        )
        if status:
            statement = statement.where(Alert.status == status)
        if alert_type:
            statement = statement.where(Alert.alert_type == alert_type)
        return statement


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
