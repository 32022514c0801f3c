"""What `GET /api/admin/alerts` answers: one stored alert."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from catalog.kit.schemas import ResponseModel


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
