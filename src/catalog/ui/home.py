"""The start page (`/ui/`) and `/` sending people there."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from catalog.core.errors import ServiceUnavailable
from catalog.discover.service import DiscoverService, SearchService
from catalog.identity.principal import Actor
from catalog.search.query import Filters
from catalog.server.deps import Session
from catalog.server.roles import Viewer
from catalog.ui.web import UiRoute, render, resources_of

router = APIRouter(route_class=UiRoute, include_in_schema=False)
POPULAR_DAYS = 30
SHOWN = 5


@router.get("/ui")
async def ui_root() -> RedirectResponse:
    return RedirectResponse("/ui/", status_code=307)


@router.get("/ui/")
async def home(request: Request, session: Session, actor: Viewer) -> Response:
    return render(request, "home.html", q=None, **await landing(request, session, actor))


async def landing(request: Request, session: Session, actor: Actor) -> dict[str, Any]:
    """Popular searches, recently updated and most used products: the start page's lists and
    the empty search's suggestions."""
    resources = resources_of(request)
    popular = await DiscoverService(session, actor, resources.search_history).popular(
        POPULAR_DAYS, SHOWN * 2
    )
    searches = SearchService(
        actor, resources.settings, resources.search_history, resources.cache, resources.search_index
    )
    try:
        recent = await _published(searches, "recent")
        most_used = await _published(searches, "popularity")
    except ServiceUnavailable:  # the index is being built: the lists wait, the page does not
        recent, most_used = [], []
    return {"popular": popular.items, "recent": recent, "most_used": most_used}


async def _published(searches: SearchService, sort_by: str) -> list[dict[str, Any]]:
    body = await searches.marketplace_json(Filters(), sort_by, SHOWN, 0)
    items: list[dict[str, Any]] = orjson.loads(body)["items"]
    return items
