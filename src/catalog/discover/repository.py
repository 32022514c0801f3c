"""All SQL of discovery that stays in the database: search history and its aggregates.

(Search itself, suggestions and the marketplace are answered by the search index,
catalog/search/.)
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, cast, delete, func, select

from catalog.db.models import SearchHistory
from catalog.kit.repository import Repository, table_of


class DiscoverRepository(Repository[SearchHistory]):
    model = SearchHistory

    async def write_history(
        self, searches: list[dict[str, Any]], clicks: list[dict[str, Any]]
    ) -> None:
        """Searches and clicks merge into one row per search id, in whichever order they come.

        A click may be flushed by another replica before its search is: both are upserts on
        the id, so neither order loses anything.
        """
        table = table_of(SearchHistory)
        if searches:
            statement = self.insert(table)
            await self.session.execute(
                statement.on_conflict_do_update(
                    index_elements=["id"],
                    set_={
                        "user_id": statement.excluded.user_id,
                        "query": statement.excluded.query,
                        "filters": statement.excluded.filters,
                        "result_count": statement.excluded.result_count,
                        "timestamp": statement.excluded.timestamp,
                    },
                ),
                searches,
            )
        if clicks:
            statement = self.insert(table)
            await self.session.execute(
                statement.on_conflict_do_update(
                    index_elements=["id"],
                    set_={
                        "clicked": True,
                        "clicked_product_id": statement.excluded.clicked_product_id,
                    },
                ),
                clicks,
            )

    async def prune_history(self, before: datetime) -> int:
        result = await self.session.execute(
            delete(SearchHistory).where(SearchHistory.timestamp < before)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def popular_searches(self, since: datetime, limit: int) -> Sequence[Any]:
        normalised = func.lower(func.trim(SearchHistory.query))
        statement = (
            select(
                normalised.label("query"),
                func.count().label("count"),
                func.sum(cast(SearchHistory.clicked, Integer)).label("clicks"),
                func.max(SearchHistory.timestamp).label("last_searched_at"),
            )
            .where(SearchHistory.timestamp >= since, normalised != "")
            .group_by(normalised)
            .order_by(func.count().desc(), normalised)
            .limit(limit)
        )
        return (await self.session.execute(statement)).all()

    async def recent_searches(self, user_id: str, limit: int) -> Sequence[SearchHistory]:
        statement = (
            select(SearchHistory)
            .where(SearchHistory.user_id == user_id, SearchHistory.query != "")
            .order_by(SearchHistory.timestamp.desc(), SearchHistory.id.desc())
            .limit(limit)
        )
        return (await self.session.scalars(statement)).all()
