"""All SQL of the `alerts` table: the engine's reads of its alert state, the admin listing."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, case, or_, select

from catalog.db.models import Alert
from catalog.kit.repository import Repository


class AlertRepository(Repository[Alert]):
    model = Alert

    async def firing(self, instance: str) -> Sequence[Alert]:
        """The alerts this instance has firing (the engine updates or resolves them)."""
        rows = await self.session.scalars(
            select(Alert).where(Alert.status == "firing", Alert.instance == instance)
        )
        return rows.all()

    async def deliverable(self, instance: str, resolved_since: datetime) -> Sequence[Alert]:
        """This instance's firing alerts and those it resolved since `resolved_since`."""
        rows = await self.session.scalars(
            select(Alert).where(
                Alert.instance == instance,
                or_(Alert.status == "firing", Alert.ends_at >= resolved_since),
            )
        )
        return rows.all()

    def listing(self, status: str | None, alert_type: str | None) -> Select[Any]:
        """Firing first, then newest first."""
        statement = select(Alert).order_by(
            case((Alert.status == "firing", 0), else_=1), Alert.starts_at.desc(), Alert.id
        )
        if status:
            statement = statement.where(Alert.status == status)
        if alert_type:
            statement = statement.where(Alert.alert_type == alert_type)
        return statement
