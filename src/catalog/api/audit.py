"""HTTP routes of the audit API: the LangExtract trail (record, query) and the audit events."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from catalog.audit import schemas
from catalog.audit.service import AuditService, TimeRange
from catalog.core.error_schema import error_responses
from catalog.identity.principal import Actor
from catalog.kit.pagination import Page, Paging
from catalog.kit.projection import Fields, page_of
from catalog.kit.schemas import AwareDatetime
from catalog.server.deps import Session
from catalog.server.retrying_route import RetryingRoute
from catalog.server.roles import Editor, Steward

LANGEXTRACT = "/api/audit/langextract"
EVENTS = "/api/audit/events"

router = APIRouter(tags=["audit"], route_class=RetryingRoute)


def service(session: Session, actor: Actor) -> AuditService:
    return AuditService(session, actor)


async def time_range(
    since: Annotated[
        AwareDatetime | None, Query(description="Inclusive lower bound, with a timezone")
    ] = None,
    until: Annotated[
        AwareDatetime | None, Query(description="Inclusive upper bound, with a timezone")
    ] = None,
) -> TimeRange:
    return TimeRange(since, until)


Window = Annotated[TimeRange, Depends(time_range)]
Filter = Annotated[str | None, Query(min_length=1, max_length=200)]


@router.post(LANGEXTRACT, status_code=201)
async def record_langextract(
    body: schemas.LangExtractCreate, session: Session, actor: Editor
) -> schemas.LangExtractOut:
    """Record one LangExtract operation (editor); the answer carries its id and timestamp."""
    record = await service(session, actor).record_langextract(body)
    return schemas.LangExtractOut.model_validate(record)


@router.get(LANGEXTRACT, response_model=Page[schemas.LangExtractOut])
async def list_langextract(
    session: Session,
    actor: Steward,
    page: Paging,
    fields: Fields,
    window: Window,
    user_id: Filter = None,
    operation_type: Filter = None,
    extraction_id: Filter = None,
) -> Any:
    """LangExtract records, newest first (steward)."""
    rows, total = await service(session, actor).list_langextract(
        page,
        window,
        user_id=user_id,
        operation_type=operation_type,
        extraction_id=extraction_id,
    )
    return page_of(schemas.LangExtractOut, rows, total, page, fields)


@router.get(LANGEXTRACT + "/{record_id}", responses=error_responses(404))
async def get_langextract(
    record_id: str, session: Session, actor: Steward
) -> schemas.LangExtractOut:
    record = await service(session, actor).get_langextract(record_id)
    return schemas.LangExtractOut.model_validate(record)


@router.get(EVENTS, response_model=Page[schemas.AuditEventOut])
async def list_events(
    session: Session,
    actor: Steward,
    page: Paging,
    fields: Fields,
    window: Window,
    actor_name: Annotated[str | None, Query(alias="actor", min_length=1, max_length=200)] = None,
    action: Filter = None,
    resource_type: Filter = None,
    resource_id: Filter = None,
    request_id: Filter = None,
) -> Any:
    """Audit events of every write, newest first (steward): who did what to which resource,
    in which request, with the row before and after."""
    rows, total = await service(session, actor).list_events(
        page,
        window,
        actor=actor_name,
        action=action,
        resource_type=resource_type,
        resource_id=resource_id,
        request_id=request_id,
    )
    return page_of(schemas.AuditEventOut, rows, total, page, fields)
