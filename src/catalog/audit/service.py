"""Business rules of the audit API.

The LangExtract trail is append-only: records are created and read, never changed. Reading it
(and the audit events every service writes through `trail.AuditTrail`) is for stewards.
Time ranges are inclusive at both ends; a range whose start is after its end is a 422.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from catalog.audit import schemas
from catalog.audit.repository import AuditEventRepository, LangExtractRepository
from catalog.core.errors import Unprocessable
from catalog.core.time import utcnow
from catalog.db.models import AuditEvent, LangExtractAuditTrail
from catalog.identity.principal import Actor
from catalog.kit.pagination import PageParams
from catalog.kit.service import DomainService, must_exist


@dataclass(frozen=True)
class TimeRange:
    since: datetime | None = None
    until: datetime | None = None

    def __post_init__(self) -> None:
        if self.since is not None and self.until is not None and self.since > self.until:
            raise Unprocessable("since must not be after until")


class AuditService(DomainService):
    def __init__(self, session: AsyncSession, actor: Actor) -> None:
        super().__init__(session, actor)
        self.langextract = LangExtractRepository(session)
        self.events = AuditEventRepository(session)

    async def record_langextract(self, body: schemas.LangExtractCreate) -> LangExtractAuditTrail:
        values = body.model_dump(exclude={"metadata"})
        record = await self.langextract.add(
            LangExtractAuditTrail(
                **values,
                metadata_=body.metadata,
                recorded_by=self.actor.subject,
                timestamp=utcnow(),
            )
        )
        # The record is itself the trail; the event says who wrote it, not what it holds.
        self.audit.record(
            "create",
            "langextract_audit",
            record.id,
            details={
                "extraction_id": record.extraction_id,
                "operation_type": record.operation_type,
            },
        )
        return record

    async def get_langextract(self, record_id: str) -> LangExtractAuditTrail:
        return must_exist(
            await self.langextract.get(record_id), "langextract audit record", record_id
        )

    async def list_langextract(
        self,
        page: PageParams,
        window: TimeRange,
        *,
        user_id: str | None,
        operation_type: str | None,
        extraction_id: str | None,
    ) -> tuple[Sequence[LangExtractAuditTrail], int]:
        statement = self.langextract.list_statement(
            user_id=user_id,
            operation_type=operation_type,
            extraction_id=extraction_id,
            since=window.since,
            until=window.until,
        )
        return await self.langextract.paginate(statement, page.limit, page.offset)

    async def list_events(
        self, page: PageParams, window: TimeRange, **filters: str | None
    ) -> tuple[Sequence[AuditEvent], int]:
        statement = self.events.list_statement(since=window.since, until=window.until, **filters)
        return await self.events.paginate(statement, page.limit, page.offset)
