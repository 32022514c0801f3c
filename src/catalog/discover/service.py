"""Discovery: search with filters, facets and blended ranking; suggestions; history; marketplace.

Search, suggestions and the marketplace are answered by the search index (catalog/search/):
the engine's work runs off the event loop, and its answers are cached (when the response
cache is on) under the index version they came from, so a cached page is never older than the
index. Until a first index exists they answer 503 with Retry-After. Search history is written
off the request path (history.py).
"""

from __future__ import annotations

import re
import time
from datetime import timedelta
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.cache import Cache, cache_key
from catalog.cache.invalidation import LISTINGS
from catalog.core.errors import NotFound, ServiceUnavailable, Unprocessable
from catalog.core.ids import new_id
from catalog.core.time import utcnow
from catalog.db.models import DataProduct
from catalog.discover import schemas
from catalog.discover.history import SearchHistoryRecorder
from catalog.discover.repository import DiscoverRepository
from catalog.identity.principal import Actor, restricted_view, sees
from catalog.search import engine
from catalog.search.index import SearchIndex, Snapshot
from catalog.search.query import Filters, ParsedQuery, Visibility, parse
from catalog.search.ranking import Weights
from catalog.settings import Settings

_TOTAL = re.compile(rb'^\{"search_id":"","total_count":(\d+),')
_SEARCH_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def search_answer(
    found: engine.SearchAnswer, query: ParsedQuery, sort_by: str, limit: int, offset: int
) -> dict[str, Any]:
    """The JSON answer of a search; `search_id` first and empty, filled in per request."""
    return {
        "search_id": "",
        "total_count": found.total,
        "results": found.results,
        "facets": found.facets,
        "query": query.raw,
        "terms": list(query.terms),
        "fuzzy": found.fuzzy,
        "sort_by": sort_by,
        "limit": limit,
        "offset": offset,
    }


class SearchService:
    """Search, suggestions and the marketplace: answered by the index, no database session."""

    def __init__(
        self,
        actor: Actor,
        settings: Settings,
        history: SearchHistoryRecorder,
        cache: Cache,
        index: SearchIndex,
    ) -> None:
        self.actor = actor
        self.weights = Weights.from_settings(settings)
        self.history = history
        self.cache = cache
        self.index = index
        self.retry_after = settings.unavailable_retry_after_s
        see_all, team = restricted_view(actor)
        self.visibility = Visibility(see_all=see_all, team=team)

    def _snapshot(self) -> Snapshot:
        snapshot = self.index.snapshot()
        if snapshot is None:
            raise ServiceUnavailable(
                f"the search index is not ready ({self.index.problem or 'being built'})",
                retry_after=self.retry_after,
            )
        return snapshot

    async def search_json(
        self,
        q: str | None,
        filters: Filters,
        sort_by: str,
        limit: int,
        offset: int,
        explain: bool,
    ) -> bytes:
        """One page of results with the total and facets, as its JSON answer."""
        query = parse(q)
        snapshot = self._snapshot()
        request = engine.SearchRequest(
            query, filters, self.visibility, sort_by, limit, offset, explain
        )

        async def load() -> bytes:
            found = await self.index.run(
                "search", engine.search, snapshot, request, self.weights, time.time()
            )
            return orjson.dumps(search_answer(found, query, sort_by, limit, offset))

        # Cached per index version and visibility: never older than what the index answers.
        key = cache_key(
            snapshot.version,
            query.raw,
            filters.__dict__,
            self.visibility.__dict__,
            sort_by,
            limit,
            offset,
            explain,
        )
        body = await self.cache.fetch("search", LISTINGS, key, load, ttl_s=self.cache.list_ttl_s)
        # Every search is its own, cached or not: its id goes into the answer's first field
        # (no re-encoding of the page; no value can hold these bytes unescaped).
        search_id = new_id()
        counted = _TOTAL.match(body)
        total = int(counted.group(1)) if counted else 0
        await self._remember(search_id, total, query.raw, filters, sort_by)
        return body.replace(b'"search_id":""', b'"search_id":"%s"' % search_id.encode(), 1)

    async def _remember(
        self, search_id: str, total: int, query: str, filters: Filters, sort_by: str
    ) -> None:
        await self.history.record(
            "search",
            {
                "id": search_id,
                "user_id": self.actor.subject,
                "query": query,
                "filters": {k: v for k, v in filters.__dict__.items() if v is not None}
                | {"sort_by": sort_by},
                "result_count": total,
                "clicked": False,
                "clicked_product_id": None,
                "timestamp": utcnow(),
            },
        )

    async def suggest_json(self, q: str, limit: int) -> bytes:
        """Suggestions as their JSON answer (restricted products only for their own team)."""
        snapshot = self._snapshot()

        async def load() -> bytes:
            found = await self.index.run(
                "suggest", engine.suggest, snapshot, q, limit, self.visibility
            )
            return orjson.dumps({"query": q, "suggestions": found})

        key = cache_key(snapshot.version, q, limit, self.visibility.__dict__)
        return await self.cache.fetch("suggest", LISTINGS, key, load, ttl_s=self.cache.list_ttl_s)

    async def marketplace_json(
        self, filters: Filters, sort_by: str, limit: int, offset: int
    ) -> bytes:
        """A marketplace page as its JSON answer, cached per index version and visibility."""
        snapshot = self._snapshot()

        async def load() -> bytes:
            items, total = await self.index.run(
                "marketplace",
                engine.marketplace,
                snapshot,
                filters,
                self.visibility,
                sort_by,
                limit,
                offset,
            )
            return orjson.dumps(
                {
                    "items": items,
                    "total": total,
                    "limit": limit,
                    "offset": offset,
                    "sort_by": sort_by,
                }
            )

        key = cache_key(
            snapshot.version, filters.__dict__, self.visibility.__dict__, sort_by, limit, offset
        )
        return await self.cache.fetch(
            "marketplace", LISTINGS, key, load, ttl_s=self.cache.list_ttl_s
        )


class DiscoverService:
    """Clicks and the search history (the database)."""

    def __init__(self, session: AsyncSession, actor: Actor, history: SearchHistoryRecorder) -> None:
        self.session = session
        self.actor = actor
        self.repo = DiscoverRepository(session)
        self.history = history

    async def click(self, search_id: str, product_id: str) -> schemas.ClickOut:
        if not _SEARCH_ID.match(search_id):
            raise Unprocessable("search_id is not a search id returned by /api/discover/search")
        product = await self.session.get(DataProduct, product_id)
        if product is None or not sees(self.actor, product.visibility, product.team):
            raise NotFound("data product", product_id)
        await self.history.record(
            "click",
            {
                "id": search_id,
                "user_id": self.actor.subject,
                "query": "",
                "filters": {},
                "result_count": 0,
                "clicked": True,
                "clicked_product_id": product_id,
                "timestamp": utcnow(),
            },
        )
        return schemas.ClickOut(search_id=search_id, product_id=product_id, recorded=True)

    async def popular(self, days: int, limit: int) -> schemas.PopularOut:
        rows = await self.repo.popular_searches(utcnow() - timedelta(days=days), limit)
        return schemas.PopularOut(
            days=days,
            items=[
                schemas.PopularSearch(
                    query=row.query,
                    count=row.count,
                    clicks=int(row.clicks or 0),
                    last_searched_at=row.last_searched_at,
                )
                for row in rows
            ],
        )

    async def recent(self, limit: int) -> schemas.RecentOut:
        rows = await self.repo.recent_searches(self.actor.subject, limit)
        return schemas.RecentOut(
            user_id=self.actor.subject,
            items=[
                schemas.RecentSearch(
                    search_id=row.id,
                    query=row.query,
                    result_count=row.result_count,
                    clicked=row.clicked,
                    timestamp=row.timestamp,
                )
                for row in rows
            ],
        )
