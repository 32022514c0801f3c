"""HTTP routes of the OpenLineage intake, Marquez-compatible: `POST /api/v1/lineage` takes
RunEvent, DatasetEvent and JobEvent as the spec defines them and answers 201 with an empty
body; `GET /api/v1/events/lineage` lists what was received."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from catalog.core.error_schema import error_responses
from catalog.core.errors import BadRequest, Unprocessable
from catalog.core.json_value import check_json
from catalog.kit.pagination import Page, Paging
from catalog.kit.projection import page_of
from catalog.kit.schemas import AwareDatetime
from catalog.openlineage import schemas
from catalog.openlineage.service import LineageIntake
from catalog.openlineage.spec import InvalidLineageEvent, event_schema, parse_event
from catalog.ratelimit.policy import endpoint_limit
from catalog.server.deps import Session
from catalog.server.retrying_route import RetryingRoute
from catalog.server.roles import Editor, Steward

LINEAGE = "/api/v1/lineage"
EVENTS = "/api/v1/events/lineage"
SPEC = "https://openlineage.io/spec/2-0-2/OpenLineage.json"

router = APIRouter(tags=["openlineage"], route_class=RetryingRoute)


@router.post(
    LINEAGE,
    status_code=201,
    response_class=Response,
    responses={
        **error_responses(400, 413),
        201: {"description": "Received (empty body, as Marquez)"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": f"An OpenLineage RunEvent, DatasetEvent or JobEvent ({SPEC})",
            "content": {"application/json": {"schema": event_schema()}},
        }
    },
)
# A pipeline platform is one client sending every task's START and COMPLETE, in bursts: its
# own bucket (100/s, burst 1000) instead of the general per-client one; the global bucket
# still bounds the total. Override with CATALOG_RATE_LIMIT_ENDPOINTS.
@endpoint_limit(per_minute=6000, burst=1000)
async def post_lineage(request: Request, session: Session, actor: Editor) -> Response:
    """Receive an OpenLineage event (editor). It is kept at once and applied in the background
    (within a second when idle): its datasets become products (drafts when new), its schema
    facets their schemas, its inputs feed its outputs, its columnLineage facets feed columns.
    400 names the field the spec refuses."""
    try:
        event = parse_event(await request.body())
    except InvalidLineageEvent as error:
        where = error.field or "body"
        raise BadRequest(
            f"not an OpenLineage event: {where}: {error.message}",
            extra={"errors": [{"loc": ["body", where], "msg": error.message, "type": "spec"}]},
        ) from error
    try:
        check_json(event.raw)  # what both databases store (no NUL in strings, bounded depth)
    except ValueError as error:
        raise BadRequest(f"not an OpenLineage event the catalog can keep: {error}") from error
    LineageIntake(session, actor).keep(event)
    return Response(status_code=201)


@router.get(EVENTS, response_model=Page[schemas.LineageEventOut])
async def list_lineage_events(
    session: Session,
    actor: Steward,
    page: Paging,
    after: Annotated[
        AwareDatetime | None, Query(description="Events at or after this time (eventTime)")
    ] = None,
    before: Annotated[
        AwareDatetime | None, Query(description="Events at or before this time (eventTime)")
    ] = None,
    job_name: Annotated[str | None, Query(min_length=1, max_length=500)] = None,
    applied: Annotated[
        bool | None, Query(description="false: only those still waiting to be applied")
    ] = None,
) -> Any:
    """The OpenLineage events received, newest eventTime first, each with when it was
    applied and how (`applied`, `kept`: a FAIL or ABORT run, `failed`: with the `error`).
    Steward: events name datasets and carry SQL of any team."""
    if after is not None and before is not None and after > before:
        raise Unprocessable("after must not be later than before")
    intake = LineageIntake(session, actor)
    rows, total = await intake.events(page, after, before, job_name, applied)
    return page_of(schemas.LineageEventOut, rows, total, page)
