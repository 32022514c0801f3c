"""All SQL of the OpenLineage intake: the raw events, kept as they were posted."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, select

from catalog.db.models import LineageEventRecord
from catalog.kit.repository import Repository


class LineageEventRepository(Repository[LineageEventRecord]):
    model = LineageEventRecord

    def list_statement(
        self, after: datetime | None, before: datetime | None, job_name: str | None
    ) -> Select[Any]:
        """Newest event first; `after`/`before` bound the event time (inclusive)."""
        statement = select(LineageEventRecord)
        if after is not None:
            statement = statement.where(LineageEventRecord.event_time >= after)
        if before is not None:
            statement = statement.where(LineageEventRecord.event_time <= before)
        if job_name is not None:
            statement = statement.where(LineageEventRecord.job_name == job_name)
        return statement.order_by(
            LineageEventRecord.event_time.desc(), LineageEventRecord.id.desc()
        )
