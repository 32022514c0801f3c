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

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, cast, delete, func, select, text

from catalog.db.models import DataProduct, SearchHistory
from catalog.db.types import JSONType, UTCDateTime
from catalog.discover.query import ParsedQuery
from catalog.discover.ranking import FRESHNESS, POPULARITY, QUALITY, Weights
from catalog.kit.repository import Repository, table_of

# Raw SQL rows get their Python types here (SQLite returns text for both otherwise).
TYPED = {"updated_at": UTCDateTime(), "tag_names": JSONType}
RERANK_CANDIDATES = 1000
LIKE = {"postgresql": "ILIKE", "sqlite": "LIKE"}  # SQLite's LIKE ignores ASCII case already
SUGGEST_SOURCES = (("product", "data_products"), ("tag", "tags"), ("element", "data_elements"))
NULLS = ", ".join(["NULL"] * 7)  # the hit-only columns, on facet rows
# Tag facets read the tag names the search document already holds (no join per match).
TAG_ELEMENTS = {
    "postgresql": "jsonb_array_elements_text(m.tag_names)",
    "sqlite": "json_each(m.tag_names)",
}
SORTS = {
    "relevance": "score DESC, product_id",
    "popularity": "popularity DESC, product_id",
    "recent": "updated_at DESC, product_id",
    "name": "lower(name), product_id",
}
FACET_VALUES = 20
TAG_SUBTREE = """tag_ids(id) AS (
    SELECT id FROM tags WHERE lower(name) = lower(:tag)
    UNION SELECT t.id FROM tags t JOIN tag_ids ON t.parent_tag_id = tag_ids.id
)"""


# The page's hits come back among facet rows; these restore the order the SQL ranked them in.
SORT_KEYS: dict[str, Callable[[Any], Any]] = {
    "relevance": lambda hit: (-hit.score, hit.value),
    "popularity": lambda hit: (-hit.popularity, hit.value),
    "recent": lambda hit: (-hit.updated_at.timestamp(), hit.value),
    "name": lambda hit: (hit.name.lower(), hit.value),
}


def page_window(limit: int, offset: int) -> dict[str, int]:
    """The paging parameters of the search statement."""
    window = limit + offset
    return {
        "limit": limit,
        "offset": offset,
        "window": window,
        "rerank": max(window, RERANK_CANDIDATES),
    }


@dataclass
class SearchPage:
    hits: list[Any] = field(default_factory=list)
    total: int = 0
    facets: dict[str, list[tuple[str, int]]] = field(
        default_factory=lambda: {"team": [], "category": [], "status": [], "tag": []}
    )


@dataclass
class Filters:
    team: str | None = None
    category: str | None = None
    status: str | None = None
    tag: str | None = None
    restricted_team: str | None = None  # with see_all False: the team whose restricted ones show
    see_all: bool = True
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
            joins=" CROSS JOIN to_tsquery('simple', :tsq) AS tsq",
            condition="s.search_vector @@ tsq",
            score="ts_rank_cd(s.search_vector, tsq, 32)",
            params={"tsq": query.tsquery()},
        )
    return TextMatch(
        joins=(
            " JOIN (SELECT rowid AS rid, bm25(product_search_fts, 10.0, 5.0, 2.0, 1.0) AS bm"
            " FROM product_search_fts WHERE product_search_fts MATCH :fts) f ON f.rid = s.id"
        ),
        score="(-f.bm / (1.0 - f.bm))",
        params={"fts": query.fts5()},
    )


def pg_fuzzy_match(query: ParsedQuery) -> TextMatch:
    """PostgreSQL's typo fallback: names near the query by trigrams (pg_trgm GIN index)."""
    return TextMatch(
        condition="(s.name % :raw OR :raw <% s.name)",
        score="(greatest(similarity(s.name, :raw), word_similarity(:raw, s.name)) * 0.9)",
        params={"raw": query.text},
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

    def _where(self, match: TextMatch, filters: Filters) -> tuple[list[str], str, dict[str, Any]]:
        """(CTEs, WHERE clause, parameters) selecting the products the query and filters match."""
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
        if not filters.see_all:
            conditions.append("(s.visibility <> 'restricted' OR s.team = :restricted_team)")
            params["restricted_team"] = filters.restricted_team
        if filters.only_ids is not None:
            names = [f":only{i}" for i in range(len(filters.only_ids))]
            conditions.append(f"s.product_id IN ({', '.join(names) or 'NULL'})")
            params.update({f"only{i}": v for i, v in enumerate(filters.only_ids)})
        where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
        return ctes, where, params

    async def search(
        self,
        match: TextMatch,
        filters: Filters,
        weights: Weights,
        sort_by: str,
        limit: int,
        offset: int,
    ) -> SearchPage:
        """One scan of the match set: the page's ranking, the facets and the exact total.

        The match set is materialised once as narrow rows (ids, filter columns, the four
        signals); ranking, facet counts and the count all read it. Page details come after,
        by id, for the page only.
        """
        sql, params = self.search_sql(match, filters, weights, sort_by)
        statement = text(sql).columns(updated_at=UTCDateTime())
        rows = await self.session.execute(statement, params | page_window(limit, offset))
        page = SearchPage()
        for row in rows:
            if row.facet == "hit":
                page.hits.append(row)
            elif row.facet == "total":
                page.total = int(row.n)
            else:
                page.facets[row.facet].append((row.value, int(row.n)))
        page.hits.sort(key=SORT_KEYS[sort_by])
        for values in page.facets.values():
            values.sort(key=lambda item: (-item[1], item[0]))
            del values[FACET_VALUES:]
        return page

    def search_sql(
        self, match: TextMatch, filters: Filters, weights: Weights, sort_by: str
    ) -> tuple[str, dict[str, Any]]:
        """The search statement's SQL and parameters (bind `page_window(limit, offset)` too)."""
        ctes, where, params = self._where(match, filters)
        freshness = FRESHNESS[self.dialect]
        ctes.append(
            f"""m AS MATERIALIZED (
                SELECT s.product_id, s.team, s.category, s.status, s.name, s.updated_at,
                       s.tag_names, s.quality_score, {match.score} AS text_score
                FROM product_search s{match.joins} {where})"""
        )
        # Candidates: the rows that can reach the page. Ordering by name or recency is exact
        # on `m` alone; for relevance with a query, the best CANDIDATES text matches are
        # blended with the other signals (a re-rank, as search engines do); popularity, and
        # relevance without a query, need every row's usage.
        if sort_by in ("name", "recent"):
            candidates = f"SELECT * FROM m ORDER BY {SORTS[sort_by]} LIMIT :window"
        elif sort_by == "relevance" and match.condition + match.joins:
            candidates = "SELECT * FROM m ORDER BY text_score DESC, product_id LIMIT :rerank"
        else:
            candidates = "SELECT * FROM m"
        ctes.append(f"candidates AS ({candidates})")
        score = weights.blend("text_score", "popularity", "quality", "freshness")
        ctes.append(
            f"""signals AS (
                SELECT c.product_id, c.name, c.updated_at, c.text_score,
                       {POPULARITY} AS popularity,
                       {QUALITY.replace("s.", "c.")} AS quality,
                       {freshness.replace("s.", "c.")} AS freshness
                FROM candidates c LEFT JOIN product_usage_stats u ON u.product_id = c.product_id)"""
        )
        ctes.append(
            f"""ranked AS (
                SELECT product_id, text_score, popularity, quality, freshness, name, updated_at,
                       {score} AS score
                FROM signals ORDER BY {SORTS[sort_by]} LIMIT :limit OFFSET :offset)"""
        )
        sql = (
            "WITH RECURSIVE "
            + ",\n".join(ctes)
            + """
            SELECT 'hit' AS facet, product_id AS value, 0 AS n, text_score, popularity,
                   quality, freshness, score, name, updated_at FROM ranked
            UNION ALL SELECT 'total', NULL, count(*), {NULLS} FROM m
            UNION ALL SELECT 'team', team, count(*), {NULLS} FROM m GROUP BY team
            UNION ALL SELECT 'category', category, count(*), {NULLS} FROM m GROUP BY category
            UNION ALL SELECT 'status', status, count(*), {NULLS} FROM m GROUP BY status
            UNION ALL SELECT 'tag', tag.value, count(*), {NULLS}
                      FROM m, {TAG_ELEMENTS} AS tag GROUP BY tag.value"""
        )
        sql = sql.replace("{NULLS}", NULLS).replace("{TAG_ELEMENTS}", TAG_ELEMENTS[self.dialect])
        return sql, params

    async def details(self, product_ids: list[str]) -> dict[str, Any]:
        """What a result shows, for the products of one page."""
        if not product_ids:
            return {}
        names = [f":id{i}" for i in range(len(product_ids))]
        statement = text(
            f"""SELECT s.product_id, s.name, s.description, s.team, s.category, s.owner,
                       s.status, s.visibility, s.tag_names, s.latest_version, s.quality_score,
                       s.updated_at,
                       coalesce(u.view_count, 0) AS view_count,
                       coalesce(u.unique_viewers, 0) AS unique_viewers,
                       coalesce(u.approved_access, 0) AS approved_access,
                       coalesce(u.rating_count, 0) AS rating_count,
                       coalesce(u.rating_sum, 0) AS rating_sum
                FROM product_search s
                LEFT JOIN product_usage_stats u ON u.product_id = s.product_id
                WHERE s.product_id IN ({", ".join(names)})"""
        ).columns(**TYPED)
        params = {f"id{i}": product_id for i, product_id in enumerate(product_ids)}
        return {row.product_id: row for row in await self.session.execute(statement, params)}

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

    async def suggest(self, typed: str, limit: int, how: str) -> Sequence[Any]:
        """Names of products, tags and elements matching what was typed, `limit` per kind.

        `how` is "prefix" (the name starts with it: an index range, ordered), "contains"
        (a word inside the name does: the trigram index, first found) or "near" (PostgreSQL:
        trigram similarity, for typos). The service tries them in that order and stops as
        soon as it has enough, so typing costs an index lookup, not a ranking of thousands.
        """
        escaped = typed.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        column = "lower(name)" if self.dialect == "postgresql" else "name"
        condition, order, score = {
            "prefix": (f"{column} LIKE :like ESCAPE '\\'", f"{column}", "1.0"),
            "contains": (f"name {LIKE[self.dialect]} :contains ESCAPE '\\'", "", "0.9"),
            "near": ("name % :q", "similarity(name, :q) DESC", "similarity(name, :q)"),
        }[how]
        parts = [
            f"SELECT * FROM (SELECT '{kind}' AS kind, id, name, {score} AS similarity"
            f" FROM {table} WHERE {condition}"
            f"{' ORDER BY ' + order if order else ''} LIMIT :limit) AS {kind}s"
            for kind, table in SUGGEST_SOURCES
        ]
        params = {
            "q": typed,
            "like": escaped + "%",
            "contains": "%" + escaped + "%",
            "limit": limit,
        }
        return (await self.session.execute(text(" UNION ALL ".join(parts)), params)).all()

    async def product_visibility(self, ids: Iterable[str]) -> Sequence[Any]:
        """(id, visibility, team) of the products among suggestions."""
        statement = select(DataProduct.id, DataProduct.visibility, DataProduct.team).where(
            DataProduct.id.in_(list(ids))
        )
        return (await self.session.execute(statement)).all()

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
        ctes, where, params = self._where(TextMatch(), published)
        prefix = f"WITH RECURSIVE {', '.join(ctes)}" if ctes else ""
        statement = text(
            f"""{prefix}
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
            FROM product_search s
            LEFT JOIN product_usage_stats u ON u.product_id = s.product_id
            {where}
            ORDER BY {order}
            LIMIT :limit OFFSET :offset"""
        ).columns(**TYPED)
        rows = (
            await self.session.execute(statement, params | {"limit": limit, "offset": offset})
        ).all()
        if rows or offset == 0:
            return rows, int(rows[0].total_count) if rows else 0
        counted = text(f"{prefix} SELECT count(*) FROM product_search s {where}")
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
