"""HTTP routes of the crawler: `POST /api/ingestion/runs` starts a crawl in the background
(admin: it reads a database with the credentials it is given), `GET` follows it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy.exc import ArgumentError

from catalog.core.error_schema import error_responses
from catalog.core.errors import NotFound, Unprocessable
from catalog.ingest import schemas
from catalog.ingest.repository import IngestionRunRepository
from catalog.ingest.run import CrawlRequest
from catalog.kit.dataset_refs import source_of_url
from catalog.kit.pagination import Page, Paging
from catalog.kit.projection import page_of
from catalog.server.deps import ResourcesDep, Session
from catalog.server.retrying_route import RetryingRoute
from catalog.server.roles import Admin

RUNS = "/api/ingestion/runs"

router = APIRouter(tags=["ingestion"], route_class=RetryingRoute)


@router.post(RUNS, status_code=202, responses=error_responses(422))
async def start_run(
    body: schemas.IngestionRunIn, actor: Admin, resources: ResourcesDep
) -> schemas.IngestionRunOut:
    """Crawl a database into the catalog in the background (as `catalog ingest` does); the
    answer is the queued run: follow it at `GET /api/ingestion/runs/{id}`."""
    try:
        source_of_url(body.url)
    except (ArgumentError, ValueError):
        raise Unprocessable("url: not a database URL") from None
    request = CrawlRequest(
        url=body.url,
        team=body.team,
        schemas=tuple(body.schemas),
        include=tuple(body.include),
        exclude=tuple(body.exclude),
        dry_run=body.dry_run,
    )
    run = await resources.ingestion.submit(request, actor)
    return schemas.IngestionRunOut.model_validate(run)


@router.get(RUNS, response_model=Page[schemas.IngestionRunOut])
async def list_runs(session: Session, actor: Admin, page: Paging) -> Any:
    """Crawl runs, newest first."""
    runs = IngestionRunRepository(session)
    rows, total = await runs.paginate(runs.list_statement(), page.limit, page.offset)
    return page_of(schemas.IngestionRunOut, rows, total, page)


@router.get(RUNS + "/{run_id}", responses=error_responses(404))
async def get_run(run_id: str, session: Session, actor: Admin) -> schemas.IngestionRunOut:
    run = await IngestionRunRepository(session).get(run_id)
    if run is None:
        raise NotFound("ingestion run", run_id)
    return schemas.IngestionRunOut.model_validate(run)
