"""The search page (`/ui/search`) and its typeahead (`/ui/search/suggest`)."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request, Response

from catalog.api.discover import SEARCH_MAX_LIMIT, SEARCH_MAX_OFFSET
from catalog.core.errors import ServiceUnavailable
from catalog.discover import schemas
from catalog.discover.service import SearchService
from catalog.identity.principal import Actor
from catalog.kit.schemas import Name
from catalog.products.schemas import ProductStatus
from catalog.ratelimit.policy import endpoint_limit
from catalog.search.query import MAX_QUERY_LENGTH, Filters
from catalog.server.roles import Viewer
from catalog.ui.home import landing
from catalog.ui.web import PageLinks, UiRoute, render, resources_of

router = APIRouter(route_class=UiRoute, include_in_schema=False)
PAGE_SIZE = 20
FACETS = ("team", "category", "status", "tag")


def searches(request: Request, actor: Actor) -> SearchService:
    resources = resources_of(request)
    return SearchService(
        actor, resources.settings, resources.search_history, resources.cache, resources.search_index
    )


@router.get("/ui/search")
@endpoint_limit(per_minute=200, burst=20)  # the API search's own limit: the same engine
async def search_page(
    request: Request,
    actor: Viewer,
    q: Annotated[str | None, Query(max_length=MAX_QUERY_LENGTH)] = None,
    team: Name | None = None,
    category: Name | None = None,
    status: ProductStatus | None = None,
    tag: Name | None = None,
    sort_by: schemas.SortBy = "relevance",
    offset: int = Query(0, ge=0, le=SEARCH_MAX_OFFSET),
) -> Response:
    q = (q or "").strip() or None
    filters = {"team": team, "category": category, "status": status, "tag": tag}
    current = {"q": q, **filters, "sort_by": sort_by, "offset": offset}
    link = PageLinks("/ui/search", current, {"sort_by": "relevance"})

    found: dict[str, Any] | None = None
    unavailable = ""
    try:
        body = await searches(request, actor).search_json(
            q, Filters(**filters), sort_by, PAGE_SIZE, offset, True
        )
        found = orjson.loads(body)
    except ServiceUnavailable as exc:
        unavailable = f"Search is not available yet: {exc.details}. Try again in a moment."
    helpful: dict[str, Any] = {"popular": [], "recent": []}
    if found is not None and not found["results"]:
        # Only an empty result reads the database (its suggestions); the search itself is
        # answered by the index, like the API's, with no session.
        async with resources_of(request).read_sessions() as session:
            helpful = await landing(request, session, actor)
    return render(
        request,
        "search.html",
        status=200 if found is not None else 503,
        q=q,
        filters=filters,
        sort_by=sort_by,
        offset=offset,
        limit=PAGE_SIZE,
        max_offset=SEARCH_MAX_OFFSET,
        found=found,
        unavailable=unavailable,
        link=link,
        popular=helpful["popular"],
        recent=helpful["recent"],
    )


@router.get("/ui/search/suggest")
async def suggest(
    request: Request,
    actor: Viewer,
    q: Annotated[str, Query(min_length=1, max_length=100)],
    limit: int = Query(8, ge=1, le=SEARCH_MAX_LIMIT),
) -> Response:
    """The typeahead's list (the API's suggest answer, reachable with the session cookie)."""
    body = await searches(request, actor).suggest_json(q, limit)
    return Response(body, media_type="application/json", headers={"Cache-Control": "no-store"})
