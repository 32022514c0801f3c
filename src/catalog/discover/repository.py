# ruff: noqa: S608 - the SQL below is assembled from constants and bound-parameter names only;
# every value that comes from a request is passed as a bound parameter.
"""All SQL of discovery: search, facets, suggestions, marketplace, search history.

A search is one statement over a `matches` CTE (the products the query and filters select,
with their text score), ranked and paginated in the database, with the exact match count from
a window function. Facets are a second statement over the same CTE. The two databases differ
only in how `matches` finds text (see `TextMatch`); every value from the user is a bound
parameter, never part of the SQL text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, cast, delete, func, select, text

from catalog.db.models import SearchHistory
from catalog.db.types import JSONType, UTCDateTime
from catalog.discover.query import ParsedQuery
from catalog.discover.ranking import FRESHNESS, POPULARITY, QUALITY, Weights
from catalog.kit.repository import Repository, table_of

# Raw SQL rows get their Python types here (SQLite returns text for both otherwise).
TYPED = {"updated_at": UTCDateTime(), "tag_names": JSONType}
SORTS = {
    "relevance": "score DESC, s.product_id",
    "popularity": "popularity DESC, s.product_id",
    "recent": "s.updated_at DESC, s.product_id",
    "name": "lower(s.name), s.product_id",
}
FACET_VALUES = 20
TAG_SUBTREE = """tag_ids(id) AS (
    SELECT id FROM tags WHERE lower(name) = lower(:tag)
    UNION SELECT t.id FROM tags t JOIN tag_ids ON t.parent_tag_id = tag_ids.id
)"""


@dataclass
class Filters:
    team: str | None = None
    category: str | None = None
    status: str | None = None
    tag: str | None = None
    visibility: tuple[str, ...] | None = None  # None: every visibility
    only_ids: list[str] | None = None


@dataclass
class TextMatch:
    """How `matches` finds the query in the text index, and the text score it yields."""

    joins: str = ""
    condition: str = ""
    score: str = "0.0"
    params: dict[str, Any] = field(default_factory=dict)
    ctes: list[str] = field(default_factory=list)


def text_match(dialect: str, query: ParsedQuery) -> TextMatch:
    if query.empty:
        return TextMatch()
    if dialect == "postgresql":
        return TextMatch(
            joins=", to_tsquery('simple', :tsq) AS tsq",
            condition="(s.search_vector @@ tsq OR s.name % :raw OR :raw <% s.name)",
            score=(
                "greatest(ts_rank_cd(s.search_vector, tsq, 32),"
                " greatest(similarity(s.name, :raw), word_similarity(:raw, s.name)) * 0.9)"
            ),
            params={"tsq": query.tsquery(), "raw": query.text},
        )
    return TextMatch(
        joins=(
            " JOIN (SELECT rowid AS rid, bm25(product_search_fts, 10.0, 5.0, 2.0, 1.0) AS bm"
            " FROM product_search_fts WHERE product_search_fts MATCH :fts) f ON f.rid = s.id"
        ),
        score="(-f.bm / (1.0 - f.bm))",
        params={"fts": query.fts5()},
    )


def fuzzy_match(scores: dict[str, float]) -> TextMatch:
    """Text scores decided outside SQL (SQLite's typo fallback), joined in as a VALUES list."""
    values = ", ".join(f"(:fz_id{i}, :fz_score{i})" for i in range(len(scores)))
    params: dict[str, Any] = {}
    for i, (product_id, score) in enumerate(scores.items()):
        params[f"fz_id{i}"] = product_id
        params[f"fz_score{i}"] = score
    return TextMatch(
        joins=" JOIN fuzzy ON fuzzy.pid = s.product_id",
        score="fuzzy.score",
        params=params,
        ctes=[f"fuzzy(pid, score) AS (VALUES {values})"],
    )


class DiscoverRepository(Repository[SearchHistory]):
    model = SearchHistory

    def _matches(self, match: TextMatch, filters: Filters) -> tuple[str, dict[str, Any]]:
        """The WITH clause defining `matches(product_id, text_score)`, and its parameters."""
        conditions = [match.condition] if match.condition else []
        params = dict(match.params)
        for column in ("team", "category", "status"):
            value = getattr(filters, column)
            if value is not None:
                conditions.append(f"s.{column} = :{column}")
                params[column] = value
        ctes = list(match.ctes)
        if filters.tag is not None:
            ctes.append(TAG_SUBTREE)
            conditions.append(
                "EXISTS (SELECT 1 FROM product_tags pt WHERE pt.product_id = s.product_id"
                " AND pt.tag_id IN (SELECT id FROM tag_ids))"
            )
            params["tag"] = filters.tag
        if filters.visibility is not None:
            names = [f":vis{i}" for i in range(len(filters.visibility))]
            conditions.append(f"s.visibility IN ({', '.join(names) or 'NULL'})")
            params.update({f"vis{i}": v for i, v in enumerate(filters.visibility)})
        if filters.only_ids is not None:
            names = [f":only{i}" for i in range(len(filters.only_ids))]
            conditions.append(f"s.product_id IN ({', '.join(names) or 'NULL'})")
            params.update({f"only{i}": v for i, v in enumerate(filters.only_ids)})
        where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
        ctes.append(
            f"matches AS (SELECT s.product_id, {match.score} AS text_score"
            f" FROM product_search s{match.joins} {where})"
        )
        return "WITH RECURSIVE " + ",\n".join(ctes), params

    async def search(
        self,
        match: TextMatch,
        filters: Filters,
        weights: Weights,
        sort_by: str,
        limit: int,
        offset: int,
    ) -> tuple[Sequence[Any], int]:
        with_clause, params = self._matches(match, filters)
        freshness = FRESHNESS[self.dialect]
        score = weights.blend("m.text_score", POPULARITY, QUALITY, freshness)
        statement = text(
            f"""{with_clause}
            SELECT s.product_id, s.name, s.description, s.team, s.category, s.owner, s.status,
                   s.visibility, s.tag_names, s.latest_version, s.quality_score, s.updated_at,
                   coalesce(u.view_count, 0) AS view_count,
                   coalesce(u.unique_viewers, 0) AS unique_viewers,
                   coalesce(u.approved_access, 0) AS approved_access,
                   coalesce(u.rating_count, 0) AS rating_count,
                   coalesce(u.rating_sum, 0) AS rating_sum,
                   m.text_score, {POPULARITY} AS popularity, {QUALITY} AS quality,
                   {freshness} AS freshness, {score} AS score,
                   count(*) OVER () AS total_count
            FROM matches m
            JOIN product_search s ON s.product_id = m.product_id
            LEFT JOIN product_usage_stats u ON u.product_id = s.product_id
            ORDER BY {SORTS[sort_by]}
            LIMIT :limit OFFSET :offset"""
        ).columns(**TYPED)
        rows = (
            await self.session.execute(statement, params | {"limit": limit, "offset": offset})
        ).all()
        if rows:
            return rows, int(rows[0].total_count)
        if offset == 0:
            return rows, 0
        counted = text(f"{with_clause} SELECT count(*) FROM matches")
        return rows, int((await self.session.execute(counted, params)).scalar_one())

    async def facets(self, match: TextMatch, filters: Filters) -> dict[str, list[tuple[str, int]]]:
        """Counts per team, category, status and tag over the whole match set."""
        with_clause, params = self._matches(match, filters)
        statement = text(
            f"""{with_clause}
            SELECT 'team' AS facet, s.team AS value, count(*) AS n
              FROM matches m JOIN product_search s ON s.product_id = m.product_id GROUP BY s.team
            UNION ALL
            SELECT 'category', s.category, count(*)
              FROM matches m JOIN product_search s ON s.product_id = m.product_id
              GROUP BY s.category
            UNION ALL
            SELECT 'status', s.status, count(*)
              FROM matches m JOIN product_search s ON s.product_id = m.product_id GROUP BY s.status
            UNION ALL
            SELECT 'tag', t.name, count(*)
              FROM matches m JOIN product_tags pt ON pt.product_id = m.product_id
              JOIN tags t ON t.id = pt.tag_id GROUP BY t.name"""
        )
        facets: dict[str, list[tuple[str, int]]] = {
            "team": [],
            "category": [],
            "status": [],
            "tag": [],
        }
        for facet, value, count in await self.session.execute(statement, params):
            facets[facet].append((value, int(count)))
        for values in facets.values():
            values.sort(key=lambda item: (-item[1], item[0]))
            del values[FACET_VALUES:]
        return facets

    async def fuzzy_names(
        self, query: ParsedQuery, limit: int, kind: str | None = None
    ) -> Sequence[Any]:
        """SQLite: (kind, id, name) of names sharing trigrams with the query, best first.

        Built from the query's word terms only, so no character of the user's text can act
        as FTS5 syntax.
        """
        grams = sorted({f'"{t[i : i + 3]}"' for t in query.terms for i in range(len(t) - 2)})
        if not grams:
            return []
        only_kind = " AND kind = :kind" if kind else ""
        statement = text(
            "SELECT kind, ref_id AS id, name FROM name_trigrams WHERE name_trigrams MATCH :grams"
            f"{only_kind} ORDER BY rank LIMIT :n"
        )
        params = {"grams": f"name : ({' OR '.join(grams)})", "n": limit, "kind": kind}
        return (await self.session.execute(statement, params)).all()

    # --- suggestions ---------------------------------------------------------------------

    async def suggest(self, prefix: str, limit: int, fuzzy: bool) -> Sequence[Any]:
        """Names of products, tags and elements starting with `prefix` (and near it, fuzzy)."""
        like = prefix.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        parts = []
        for kind, table in (
            ("product", "data_products"),
            ("tag", "tags"),
            ("element", "data_elements"),
        ):
            if self.dialect == "postgresql":
                near = " OR :q <% name" if fuzzy else ""
                score = "word_similarity(:q, name)"
                prefix_match = "lower(name) LIKE :like ESCAPE '\\'"
            else:
                near = ""
                score = "0.0"
                prefix_match = "name LIKE :like ESCAPE '\\'"
            parts.append(
                f"SELECT * FROM (SELECT '{kind}' AS kind, id, name, {score} AS similarity,"
                f" CASE WHEN {prefix_match} THEN 1 ELSE 0 END AS is_prefix"
                f" FROM {table} WHERE {prefix_match}{near}"
                f" ORDER BY is_prefix DESC, similarity DESC, length(name), name LIMIT :limit)"
                f" AS {kind}s"
            )
        statement = text(" UNION ALL ".join(parts))
        return (
            await self.session.execute(statement, {"q": prefix, "like": like, "limit": limit})
        ).all()

    # --- marketplace ---------------------------------------------------------------------

    async def marketplace(
        self, filters: Filters, sort_by: str, limit: int, offset: int
    ) -> tuple[Sequence[Any], int]:
        order = {
            "popularity": "popularity DESC, s.product_id",
            "rating": "avg_rating DESC, rating_count DESC, s.product_id",
            "recent": "s.updated_at DESC, s.product_id",
            "name": "lower(s.name), s.product_id",
        }[sort_by]
        published = Filters(**{**filters.__dict__, "status": "published"})
        with_clause, params = self._matches(TextMatch(), published)
        statement = text(
            f"""{with_clause}
            SELECT s.product_id, s.name, s.description, s.team, s.category, s.owner,
                   s.tag_names, s.latest_version, s.quality_score, s.updated_at,
                   coalesce(u.view_count, 0) AS view_count,
                   coalesce(u.unique_viewers, 0) AS unique_viewers,
                   coalesce(u.approved_access, 0) AS approved_access,
                   coalesce(u.rating_count, 0) AS rating_count,
                   coalesce(u.rating_sum, 0) AS rating_sum,
                   CASE WHEN coalesce(u.rating_count, 0) = 0 THEN 0.0
                        ELSE 1.0 * u.rating_sum / u.rating_count END AS avg_rating,
                   {POPULARITY} AS popularity,
                   count(*) OVER () AS total_count
            FROM matches m
            JOIN product_search s ON s.product_id = m.product_id
            LEFT JOIN product_usage_stats u ON u.product_id = s.product_id
            ORDER BY {order}
            LIMIT :limit OFFSET :offset"""
        ).columns(**TYPED)
        rows = (
            await self.session.execute(statement, params | {"limit": limit, "offset": offset})
        ).all()
        if rows or offset == 0:
            return rows, int(rows[0].total_count) if rows else 0
        counted = text(f"{with_clause} SELECT count(*) FROM matches")
        return rows, int((await self.session.execute(counted, params)).scalar_one())

    # --- search history ------------------------------------------------------------------

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
