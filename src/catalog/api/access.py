"""HTTP routes of access requests, and the upstream clients' compatibility route."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query

from catalog.access import schemas
from catalog.access.service import AccessService
from catalog.core.error_schema import error_responses
from catalog.identity.principal import Actor
from catalog.kit.pagination import Page, Paging
from catalog.kit.projection import Fields, page_of
from catalog.kit.schemas import Identifier, Name
from catalog.server.deps import Session
from catalog.server.retrying_route import RetryingRoute
from catalog.server.roles import Steward, Viewer

REQUESTS = "/api/access-requests"
REQUEST = REQUESTS + "/{request_id}"
NOT_FOUND = error_responses(404)
MOVE_ERRORS = error_responses(403, 404, 409)

router = APIRouter(tags=["access"], route_class=RetryingRoute)

OptionalDecision = Annotated[schemas.Decision | None, Body()]


def service(session: Session, actor: Actor) -> AccessService:
    return AccessService(session, actor)


def out(request: Any) -> schemas.AccessRequestOut:
    return schemas.AccessRequestOut.model_validate(request)


@router.post(REQUESTS, status_code=201, responses=error_responses(404, 409))
async def create_access_request(
    body: schemas.AccessRequestCreate, session: Session, actor: Viewer
) -> schemas.AccessRequestOut:
    """Ask for access to a data product as the caller; one pending request per product."""
    return out(await service(session, actor).create(body))


@router.post(
    "/api/discover/access-request", status_code=201, responses=error_responses(403, 404, 409)
)
async def create_access_request_compat(
    body: schemas.UpstreamAccessRequestCreate, session: Session, actor: Viewer
) -> schemas.AccessRequestOut:
    """Upstream clients' path for `POST /api/access-requests`, taking the upstream body too:
    `requester_id` names the requester without authentication; with it, it must be the
    caller (403 otherwise)."""
    return out(await service(session, actor).create(body, body.requester_id))


@router.get(REQUESTS, response_model=Page[schemas.AccessRequestOut])
async def list_access_requests(
    session: Session,
    actor: Viewer,
    page: Paging,
    fields: Fields,
    status: schemas.AccessStatus | None = None,
    product_id: Annotated[Identifier | None, Query()] = None,
    requester: Annotated[Name | None, Query()] = None,
) -> Any:
    rows, total = await service(session, actor).list_requests(
        page, status=status, product_id=product_id, requester=requester
    )
    return page_of(schemas.AccessRequestOut, rows, total, page, fields)


@router.get(REQUEST, responses=NOT_FOUND)
async def get_access_request(
    request_id: str, session: Session, actor: Viewer
) -> schemas.AccessRequestOut:
    return out(await service(session, actor).get(request_id))


@router.post(REQUEST + "/approve", responses=MOVE_ERRORS)
async def approve_access_request(
    request_id: str, session: Session, actor: Steward, body: OptionalDecision = None
) -> schemas.AccessRequestOut:
    """pending -> approved."""
    comments = body.comments if body else None
    return out(await service(session, actor).approve(request_id, comments))


@router.post(REQUEST + "/reject", responses=MOVE_ERRORS)
async def reject_access_request(
    request_id: str, session: Session, actor: Steward, body: OptionalDecision = None
) -> schemas.AccessRequestOut:
    """pending -> rejected."""
    comments = body.comments if body else None
    return out(await service(session, actor).reject(request_id, comments))


@router.post(REQUEST + "/revoke", responses=MOVE_ERRORS)
async def revoke_access_request(
    request_id: str, session: Session, actor: Steward, body: OptionalDecision = None
) -> schemas.AccessRequestOut:
    """approved -> revoked."""
    comments = body.comments if body else None
    return out(await service(session, actor).revoke(request_id, comments))


@router.post(REQUEST + "/cancel", responses=MOVE_ERRORS)
async def cancel_access_request(
    request_id: str, session: Session, actor: Viewer
) -> schemas.AccessRequestOut:
    """pending -> cancelled, by the requester themself or a steward."""
    return out(await service(session, actor).cancel(request_id))
