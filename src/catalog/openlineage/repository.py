"""All SQL of the OpenLineage intake: the raw events, kept as they were posted."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select

from catalog.db.models import LineageEventRecord
from catalog.kit.repository import Repository

# Set on a session that kept an event: after its commit, the applier is woken (server/deps.py).
RECEIVED = "lineage_event_received"


class LineageEventRepository(Repository[LineageEventRecord]):
    model = LineageEventRecord

    def keep(self, record: LineageEventRecord) -> None:
        self.session.add(record)
        self.session.info[RECEIVED] = True

    async def pending(self, limit: int) -> list[LineageEventRecord]:
        """The next events to apply, in arrival order."""
        statement = (
            select(LineageEventRecord)
            .where(LineageEventRecord.applied_at.is_(None))
            .order_by(LineageEventRecord.received_at, LineageEventRecord.id)
            .limit(limit)
        )
        return list(await self.session.scalars(statement))

    async def count_pending(self) -> int:
        statement = select(func.count()).where(LineageEventRecord.applied_at.is_(None))
        return int(await self.session.scalar(statement) or 0)

    def list_statement(
        self,
        after: datetime | None,
        before: datetime | None,
        job_name: str | None,
        applied: bool | None,
    ) -> Select[Any]:
        """Newest event first; `after`/`before` bound the event time (inclusive)."""
        statement = select(LineageEventRecord)
        if applied is not None:
            done = LineageEventRecord.applied_at
            statement = statement.where(done.is_not(None) if applied else done.is_(None))
        if after is not None:
            statement = statement.where(LineageEventRecord.event_time >= after)
        if before is not None:
            statement = statement.where(LineageEventRecord.event_time <= before)
        if job_name is not None:
            statement = statement.where(LineageEventRecord.job_name == job_name)
        return statement.order_by(
            LineageEventRecord.event_time.desc(), LineageEventRecord.id.desc()
        )
