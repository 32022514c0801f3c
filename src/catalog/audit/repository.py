"""All SQL of the audit API: the LangExtract trail and the audit events, read newest first."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, select

from catalog.db.models import AuditEvent, LangExtractAuditTrail
from catalog.kit.repository import Repository


def _in_range(
    statement: Select[Any], column: Any, since: datetime | None, until: datetime | None
) -> Select[Any]:
    """`since` and `until` are both inclusive."""
    if since is not None:
        statement = statement.where(column >= since)
    if until is not None:
        statement = statement.where(column <= until)
    return statement


def _equal(statement: Select[Any], filters: dict[Any, str | None]) -> Select[Any]:
    for column, value in filters.items():
        if value is not None:
            statement = statement.where(column == value)
    return statement


class LangExtractRepository(Repository[LangExtractAuditTrail]):
    model = LangExtractAuditTrail

    def list_statement(
        self,
        *,
        user_id: str | None,
        operation_type: str | None,
        extraction_id: str | None,
        since: datetime | None,
        until: datetime | None,
    ) -> Select[Any]:
        model = LangExtractAuditTrail
        statement = select(model).order_by(model.timestamp.desc(), model.id.desc())
        statement = _equal(
            statement,
            {
                model.user_id: user_id,
                model.operation_type: operation_type,
                model.extraction_id: extraction_id,
            },
        )
        return _in_range(statement, model.timestamp, since, until)


class AuditEventRepository(Repository[AuditEvent]):
    model = AuditEvent

    def list_statement(
        self,
        *,
        actor: str | None,
        action: str | None,
        resource_type: str | None,
        resource_id: str | None,
        request_id: str | None,
        since: datetime | None,
        until: datetime | None,
    ) -> Select[Any]:
        statement = select(AuditEvent).order_by(AuditEvent.timestamp.desc(), AuditEvent.id.desc())
        statement = _equal(
            statement,
            {
                AuditEvent.actor: actor,
                AuditEvent.action: action,
                AuditEvent.resource_type: resource_type,
                AuditEvent.resource_id: resource_id,
                AuditEvent.request_id: request_id,
            },
        )
        return _in_range(statement, AuditEvent.timestamp, since, until)
