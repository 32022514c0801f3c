"""One description of an alert: what the sinks are told and what `GET /api/admin/alerts` answers.

`Notification` is the alert as every sink receives it (built from the stored row); `AlertOut`
is the same fields plus the delivery bookkeeping the API shows. One list of fields, so a field
added to alerts reaches both the sinks and the API.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import ConfigDict

from catalog.kit.schemas import ResponseModel

AlertStatus = Literal["firing", "resolved"]


class Notification(ResponseModel):
    """One alert, as the sinks are told it (`Notification.model_validate(row)`)."""

    model_config = ConfigDict(frozen=True)

    id: str
    fingerprint: str
    alert_type: str
    severity: str
    status: AlertStatus
    summary: str
    description: str
    labels: dict[str, str]
    instance: str
    starts_at: datetime
    ends_at: datetime | None


class AlertOut(Notification):
    # The notification's fields, then when it was last seen and told, and to whom.
    last_seen_at: datetime
    last_notified_at: datetime | None
    deliveries: dict[str, str]
