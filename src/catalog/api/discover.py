"""HTTP routes of discovery."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from catalog.core.error_schema import error_responses
from catalog.discover import schemas
from catalog.discover.service import DiscoverService, SearchService
from catalog.identity.principal import Actor
from catalog.kit.schemas import Name
from catalog.products.schemas import ProductStatus
from catalog.ratelimit.policy import endpoint_limit
from catalog.search.query import MAX_QUERY_LENGTH, Filters
from catalog.server.deps import ResourcesDep, Session
from catalog.server.resources import Resources
from catalog.server.retrying_route import RetryingRoute
from catalog.server.roles import Viewer

router = APIRouter(tags=["discovery"], route_class=RetryingRoute)
DISCOVER = "/api/discover"
SEARCH_MAX_LIMIT = 100
SEARCH_MAX_OFFSET = 10_000

Filter = Annotated[Name | None, Query()]


def service(session: Session, actor: Actor, resources: Resources) -> DiscoverService:
    return DiscoverService(session, actor, resources.search_history)


def searches(actor: Actor, resources: Resources) -> SearchService:
    """Search, suggest and the marketplace read the index only: no database session."""
    return SearchService(
        actor,
        resources.settings,
        resources.search_history,
        resources.cache,
        resources.search_index,
    )


@router.get(DISCOVER + "/search", response_model=schemas.SearchOut, responses=error_responses(503))
@endpoint_limit(per_minute=200, burst=20)
async def search(
    actor: Viewer,
    resources: ResourcesDep,
    q: Annotated[
        str | None,
        Query(max_length=MAX_QUERY_LENGTH, description="Words to find; each matches as a prefix"),
    ] = None,
    team: Filter = None,
    category: Filter = None,
    tag: Annotated[Name | None, Query(description="Tag name; its child tags count too")] = None,
    status: ProductStatus | None = None,
    sort_by: schemas.SortBy = "relevance",
    limit: int = Query(20, ge=1, le=SEARCH_MAX_LIMIT),
    offset: int = Query(0, ge=0, le=SEARCH_MAX_OFFSET),
    explain: bool = Query(False, description="Add each result's score components"),
) -> Response:
    """Full-text search over data products, ranked by text, popularity, quality, freshness.

    Every word must match (in the name, tags, description or member elements), as typed, as
    the start of a longer word, or, when no word starts so, as a near spelling (`fuzzy`).
    `total_count` counts every match; `facets` count team, category, status and tag values
    over the whole match set. Use `search_id` to report a click. 503 while the search index
    is being built.
    """
    filters = Filters(team=team, category=category, status=status, tag=tag)
    body = await searches(actor, resources).search_json(q, filters, sort_by, limit, offset, explain)
    return Response(body, media_type="application/json")


@router.post(
    DISCOVER + "/search/{search_id}/click", status_code=202, responses=error_responses(404)
)
async def click(
    search_id: str,
    body: schemas.ClickIn,
    session: Session,
    actor: Viewer,
    resources: ResourcesDep,
) -> schemas.ClickOut:
    """Record that a result of a search was opened (written in the background: 202)."""
    return await service(session, actor, resources).click(search_id, body.product_id)


@router.get(
    DISCOVER + "/suggest", response_model=schemas.SuggestOut, responses=error_responses(503)
)
async def suggest(
    actor: Viewer,
    resources: ResourcesDep,
    q: Annotated[str, Query(min_length=1, max_length=100)],
    limit: int = Query(10, ge=1, le=50),
) -> Response:
    """Typeahead: product, tag and element names starting with `q`, then near misses."""
    body = await searches(actor, resources).suggest_json(q, limit)
    return Response(body, media_type="application/json")


@router.get(DISCOVER + "/popular-searches")
async def popular_searches(
    session: Session,
    actor: Viewer,
    resources: ResourcesDep,
    days: int = Query(7, ge=1, le=365),
    limit: int = Query(10, ge=1, le=100),
) -> schemas.PopularOut:
    """The most frequent queries of the last `days` days (case and spacing folded)."""
    return await service(session, actor, resources).popular(days, limit)


@router.get(DISCOVER + "/recent-searches")
async def recent_searches(
    session: Session,
    actor: Viewer,
    resources: ResourcesDep,
    limit: int = Query(20, ge=1, le=100),
) -> schemas.RecentOut:
    """The caller's own most recent searches."""
    return await service(session, actor, resources).recent(limit)


@router.get(
    DISCOVER + "/marketplace",
    response_model=schemas.MarketplaceOut,
    responses=error_responses(503),
)
async def marketplace(
    actor: Viewer,
    resources: ResourcesDep,
    team: Filter = None,
    category: Filter = None,
    tag: Filter = None,
    sort_by: schemas.MarketplaceSort = "popularity",
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0, le=1_000_000),
) -> Response:
    """Published data products with usage, tags and latest version."""
    filters = Filters(team=team, category=category, tag=tag)
    body = await searches(actor, resources).marketplace_json(filters, sort_by, limit, offset)
    return Response(body, media_type="application/json")
