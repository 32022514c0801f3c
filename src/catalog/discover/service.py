"""Discovery: search with filters, facets and blended ranking; suggestions; history; marketplace.

Search history is written off the request path (see history.py). On SQLite, a query whose
terms match nothing falls back to fuzzy matching of product names over trigrams (PostgreSQL
does that inside the one search statement with pg_trgm).
"""

from __future__ import annotations

import re
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from catalog.db.models import DataProduct
from catalog.discover import schemas
from catalog.discover.history import SearchHistoryRecorder
from catalog.discover.query import ParsedQuery, fuzzy_score, parse
from catalog.discover.ranking import Weights
from catalog.discover.repository import (
    DiscoverRepository,
    Filters,
    SearchPage,
    TextMatch,
    fuzzy_match,
    pg_fuzzy_match,
    text_match,
)
from catalog.kit.ids import new_id
from catalog.kit.time import utcnow
from catalog.platform.cache import Cache, cache_key
from catalog.platform.cache.invalidation import LISTINGS
from catalog.platform.errors import NotFound, Unprocessable
from catalog.platform.principal import Actor, restricted_view, sees
from catalog.settings import Settings

FUZZY_CANDIDATES = 300
FUZZY_THRESHOLD = 0.3
SUGGEST_FUZZY_MIN = 3
_SEARCH_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def _usage(row: Any) -> schemas.UsageSummary:
    return schemas.UsageSummary(
        views=row.view_count,
        unique_viewers=row.unique_viewers,
        approved_access=row.approved_access,
        rating_count=row.rating_count,
        average_rating=round(row.rating_sum / row.rating_count, 3) if row.rating_count else None,
    )


class DiscoverService:
    def __init__(
        self,
        session: AsyncSession,
        actor: Actor,
        settings: Settings,
        history: SearchHistoryRecorder,
        cache: Cache,
    ) -> None:
        self.session = session
        self.actor = actor
        self.repo = DiscoverRepository(session)
        self.weights = Weights.from_settings(settings)
        self.history = history
        self.cache = cache

    async def search(
        self,
        q: str | None,
        filters: Filters,
        sort_by: str,
        limit: int,
        offset: int,
        explain: bool,
    ) -> schemas.SearchOut:
        query = parse(q)
        filters.see_all, filters.restricted_team = restricted_view(self.actor)

        async def load() -> bytes:
            page = await self._rank(query, filters, sort_by, limit, offset, explain)
            return page.model_dump_json().encode()

        # Cached per visibility (see_all, restricted_team are part of the filters).
        key = cache_key(query.raw, filters, sort_by, limit, offset, explain)
        body = await self.cache.fetch("search", LISTINGS, key, load, ttl_s=self.cache.list_ttl_s)
        answer = schemas.SearchOut.model_validate_json(body)
        answer.search_id = new_id()  # every search is its own, cached or not
        await self.history.record(
            "search",
            {
                "id": answer.search_id,
                "user_id": self.actor.subject,
                "query": query.raw,
                "filters": {
                    k: v
                    for k in ("team", "category", "status", "tag")
                    if (v := getattr(filters, k)) is not None
                }
                | {"sort_by": sort_by},
                "result_count": answer.total_count,
                "clicked": False,
                "clicked_product_id": None,
                "timestamp": utcnow(),
            },
        )
        return answer

    async def _rank(
        self,
        query: ParsedQuery,
        filters: Filters,
        sort_by: str,
        limit: int,
        offset: int,
        explain: bool,
    ) -> schemas.SearchOut:
        """One page of results with total and facets (the search id is filled in later)."""
        fuzzy = False
        page = SearchPage()
        if not query.unsearchable:
            match = text_match(self.repo.dialect, query)
            page = await self.repo.search(match, filters, self.weights, sort_by, limit, offset)
            if page.total == 0 and query.terms:
                fallback = await self._fuzzy(query)
                if fallback is not None:
                    fuzzy = True
                    page = await self.repo.search(
                        fallback, filters, self.weights, sort_by, limit, offset
                    )
        details = await self.repo.details([hit.value for hit in page.hits])
        total = page.total
        return schemas.SearchOut(
            results=[
                self._result(details[hit.value], hit, explain)
                for hit in page.hits
                if hit.value in details
            ],
            total_count=total,
            facets=schemas.Facets(
                **{
                    name: [schemas.FacetValue(value=v, count=c) for v, c in values]
                    for name, values in page.facets.items()
                }
            ),
            search_id="",
            query=query.raw,
            terms=list(query.terms),
            fuzzy=fuzzy,
            sort_by=sort_by,  # type: ignore[arg-type]
            limit=limit,
            offset=offset,
        )

    async def _fuzzy(self, query: ParsedQuery) -> TextMatch | None:
        """Names near the query (typos): by pg_trgm in SQL, or by trigrams scored here."""
        if self.repo.dialect == "postgresql":
            return pg_fuzzy_match(query)
        candidates = await self.repo.fuzzy_names(query, FUZZY_CANDIDATES, kind="product")
        scores = {
            row.id: round(0.9 * sim, 6)
            for row in candidates
            if (sim := fuzzy_score(query, row.name)) >= FUZZY_THRESHOLD
        }
        return fuzzy_match(scores) if scores else None

    def _result(self, row: Any, hit: Any, explain: bool) -> schemas.SearchResult:
        return schemas.SearchResult(
            **_listing(row),
            status=row.status,
            visibility=row.visibility,
            score=round(float(hit.score), 6),
            explain=schemas.Explain(
                text=round(float(hit.text_score), 6),
                popularity=round(float(hit.popularity), 6),
                quality=round(float(hit.quality), 6),
                freshness=round(float(hit.freshness), 6),
                weights=vars(self.weights),
            )
            if explain
            else None,
        )

    async def suggest_json(self, q: str, limit: int) -> bytes:
        """Suggestions as their JSON answer, cached per prefix and per visibility (restricted
        products are suggested only to those who may see them)."""

        async def load() -> bytes:
            return (await self.suggest(q, limit)).model_dump_json().encode()

        key = cache_key(q, limit, *restricted_view(self.actor))
        return await self.cache.fetch("suggest", LISTINGS, key, load, ttl_s=self.cache.list_ttl_s)

    async def suggest(self, q: str, limit: int) -> schemas.SuggestOut:
        """Prefix matches first, then names containing the text, then (typos) near names."""
        typed = q.strip()
        found: dict[tuple[str, str], schemas.Suggestion] = {}
        steps = ["prefix", "contains"]
        if len(typed) >= SUGGEST_FUZZY_MIN:
            steps.append("near")
        for how in steps if typed else []:
            if how == "near" and self.repo.dialect != "postgresql":
                rows = await self._near_names(typed)
            else:
                rows = list(await self.repo.suggest(typed, limit, how))
            hidden = await self._hidden_products(rows)
            for row in rows:
                if row.kind == "product" and row.id in hidden:
                    continue
                found.setdefault(
                    (row.kind, row.id),
                    schemas.Suggestion(
                        text=row.name,
                        kind=row.kind,
                        id=row.id,
                        score=round(float(row.similarity), 4),
                    ),
                )
            if len(found) >= limit:
                break
        suggestions = sorted(found.values(), key=lambda s: (-s.score, len(s.text), s.text))
        return schemas.SuggestOut(query=q, suggestions=suggestions[:limit])

    async def _hidden_products(self, rows: list[Any]) -> set[str]:
        """The suggested products this caller may not see (restricted, another team)."""
        see_all, _team = restricted_view(self.actor)
        ids = {row.id for row in rows if row.kind == "product"}
        if see_all or not ids:
            return set()
        products = await self.repo.product_visibility(ids)
        return {p.id for p in products if not sees(self.actor, p.visibility, p.team)}

    async def _near_names(self, typed: str) -> list[Any]:
        """SQLite's typo step: trigram candidates scored here like pg_trgm would."""
        parsed = parse(typed)
        rows = []
        for row in await self.repo.fuzzy_names(parsed, FUZZY_CANDIDATES):
            score = fuzzy_score(parsed, row.name)
            if score >= FUZZY_THRESHOLD:
                rows.append(
                    SimpleNamespace(kind=row.kind, id=row.id, name=row.name, similarity=score)
                )
        return rows

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

    async def marketplace_json(
        self, filters: Filters, sort_by: str, limit: int, offset: int
    ) -> bytes:
        """A marketplace page as its JSON answer, cached per visibility and parameters."""
        filters.see_all, filters.restricted_team = restricted_view(self.actor)

        async def load() -> bytes:
            page = await self.marketplace(filters, sort_by, limit, offset)
            return page.model_dump_json().encode()

        key = cache_key(filters, sort_by, limit, offset)
        return await self.cache.fetch(
            "marketplace", LISTINGS, key, load, ttl_s=self.cache.list_ttl_s
        )

    async def marketplace(
        self, filters: Filters, sort_by: str, limit: int, offset: int
    ) -> schemas.MarketplaceOut:
        filters.see_all, filters.restricted_team = restricted_view(self.actor)
        rows, total = await self.repo.marketplace(filters, sort_by, limit, offset)
        return schemas.MarketplaceOut(
            items=[schemas.MarketplaceItem(**_listing(row)) for row in rows],
            total=total,
            limit=limit,
            offset=offset,
            sort_by=sort_by,  # type: ignore[arg-type]
        )


def _listing(row: Any) -> dict[str, Any]:
    """The fields a search result and a marketplace item share, from a search-document row."""
    return {
        "id": row.product_id,
        "name": row.name,
        "description": row.description,
        "team": row.team,
        "category": row.category,
        "owner": row.owner,
        "tags": _tag_list(row.tag_names),
        "latest_version": row.latest_version,
        "quality_score": row.quality_score,
        "usage": _usage(row),
        "updated_at": row.updated_at,
    }


def _tag_list(value: Any) -> list[str]:
    return [str(name) for name in value or []]
