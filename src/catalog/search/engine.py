"""Search, suggestions and the marketplace over one snapshot of the index.

These run in the engine's thread pool (index.py): plain functions of a snapshot and the
request, returning plain data; the discover service turns them into answers. Every result
comes from the index alone (its stored `doc`): no database read per search.

Totals and facets count the whole match set, after the filters and the caller's visibility
(restricted products count only for their own team), computed by the engine from fast fields:
team, category and status by a terms aggregation; tags by intersecting each tag's postings with
the match set (Tantivy's terms aggregation over a multi-valued column is ~10x slower).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
import tantivy
from tantivy import Occur, Order, Query

from catalog.search import query as q
from catalog.search.fields import RAW_FACETS, SORT_KEYS
from catalog.search.index import Snapshot, count_matches
from catalog.search.ranking import Ranked, Weights, rank

FACET_VALUES = 20
TAG_WALK_FROM = 5000  # matches from which tag facets walk postings instead of aggregating
SUGGEST_NEAR_MIN_CHARS = 3
SUGGEST_NEAR_THRESHOLD = 0.3
SUGGEST_SCORES = {"prefix": 1.0, "words": 0.9}
KINDS = ("product", "tag", "element")
FACET_NAMES = (*RAW_FACETS, "tag")


@dataclass
class SearchAnswer:
    results: list[dict[str, Any]] = field(default_factory=list)
    total: int = 0
    facets: dict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: {name: [] for name in FACET_NAMES}
    )
    fuzzy: bool = False


@dataclass(frozen=True)
class SearchRequest:
    query: q.ParsedQuery
    filters: q.Filters
    visibility: q.Visibility
    sort_by: str
    limit: int
    offset: int
    explain: bool


def search(
    snapshot: Snapshot, request: SearchRequest, weights: Weights, now_s: float
) -> SearchAnswer:
    if request.query.unsearchable:
        return SearchAnswer()
    searcher, schema = snapshot.searcher, snapshot.schema
    text = None
    if not request.query.empty:
        text = q.text_query(searcher, schema, request.query)
        if text is None:
            return SearchAnswer()
    filters, visibility = request.filters, request.visibility
    match = q.restrict(schema, text.match if text else None, "product", filters, visibility)
    answer = SearchAnswer(fuzzy=bool(text and text.fuzzy))
    answer.facets, answer.total = facets(searcher, match)
    if answer.total <= request.offset:
        return answer
    window = request.offset + request.limit
    if request.sort_by == "relevance":
        # the same filters and visibility: the scored query ranks exactly the match set
        scored = q.restrict(schema, text.scored, "product", filters, visibility) if text else None
        ranked = rank(searcher, match, scored, window=window, weights=weights, now_s=now_s)
        page = ranked[request.offset : window]
        for item in page:
            answer.results.append(_result(searcher, item, weights, request.explain))
    else:
        hits = _sorted(searcher, match, request.sort_by, request.limit, request.offset)
        for _key, address in hits:
            result = _stored(searcher, address)
            result["score"] = 0.0
            result["explain"] = None
            answer.results.append(result)
    return answer


def _sorted(
    searcher: tantivy.Searcher, match: Query, sort_by: str, limit: int, offset: int
) -> list[tuple[Any, tantivy.DocAddress]]:
    order = Order.Asc if sort_by == "name" else Order.Desc
    found = searcher.search(
        match, limit, count=False, order_by_field=SORT_KEYS[sort_by], offset=offset, order=order
    )
    return list(found.hits)


def _stored(searcher: tantivy.Searcher, address: tantivy.DocAddress) -> dict[str, Any]:
    stored: dict[str, Any] = orjson.loads(searcher.doc(address)["doc"][0])
    return stored


def _result(
    searcher: tantivy.Searcher, item: Ranked, weights: Weights, explain: bool
) -> dict[str, Any]:
    result = _stored(searcher, item.address)
    result["score"] = round(item.score, 6)
    result["explain"] = (
        {
            "text_score": round(item.bm25, 6),
            "text": round(item.text, 6),
            "popularity": round(item.popularity, 6),
            "quality": round(item.quality, 6),
            "freshness": round(item.freshness, 6),
            "weights": weights.__dict__,
        }
        if explain
        else None
    )
    return result


def facets(searcher: tantivy.Searcher, match: Query) -> tuple[dict[str, list[dict[str, Any]]], int]:
    """Facet values with their counts over the whole match set, and the match count.

    Team, category and status by one terms aggregation (single-valued fast fields: cheap);
    its status buckets add up to the match count. Tags are multi-valued, where Tantivy's
    aggregation costs ~18 ns a value: for a large match set it is cheaper to walk each tag's
    postings against the match set (`terms_with_prefix` with a filter, whose cost is the
    number of tag assignments in the index, whatever the match set).
    """
    spec = {name: {"terms": {"field": name, "size": 1000}} for name in RAW_FACETS}
    aggregated = searcher.aggregate(match, spec)
    found: dict[str, list[dict[str, Any]]] = {}
    for name in RAW_FACETS:
        buckets = aggregated[name]["buckets"]
        values = sorted(((b["key"], int(b["doc_count"])) for b in buckets), key=_by_count)
        found[name] = [{"value": v, "count": c} for v, c in values[:FACET_VALUES]]
    status = aggregated["status"]
    total = sum(int(b["doc_count"]) for b in status["buckets"])
    total += int(status.get("sum_other_doc_count", 0))
    if total < TAG_WALK_FROM:
        spec = {"tag": {"terms": {"field": "tag", "size": 10_000}}}
        buckets = searcher.aggregate(match, spec)["tag"]["buckets"]
        tags = sorted(((b["key"], int(b["doc_count"])) for b in buckets), key=_by_count)
    else:
        tags = searcher.terms_with_prefix("tag", "", filter_query=match, limit=FACET_VALUES)
    found["tag"] = [{"value": v, "count": int(c)} for v, c in tags[:FACET_VALUES]]
    return found, total


def _by_count(item: tuple[str, int]) -> tuple[int, str]:
    return (-item[1], item[0])


# --- suggestions ---------------------------------------------------------------------


def suggest(
    snapshot: Snapshot, typed: str, limit: int, visibility: q.Visibility
) -> list[dict[str, Any]]:
    """Typeahead: names starting with what was typed, then names with words starting with
    its words, then (typos) names near it; products, tags and elements, `limit` in all."""
    text = typed.strip()
    searcher, schema = snapshot.searcher, snapshot.schema
    parsed = q.parse(text)
    found: dict[tuple[str, str], dict[str, Any]] = {}
    steps = [
        ("prefix", _prefix_query(schema, text)),
        ("words", _words_query(searcher, schema, parsed)),
    ]
    if len(text) >= SUGGEST_NEAR_MIN_CHARS:
        steps.append(("near", _near_query(schema, parsed)))
    for step, condition in steps:
        if condition is None:
            continue
        for kind in KINDS:
            query = q.restrict(schema, condition, kind, visibility=visibility)
            # By score, a plain top-k the engine can stop early for: the prefix term scores
            # higher in shorter names. Near spellings are scored here, so take more of them.
            wanted = limit if step != "near" else max(limit * 5, 50)
            hits = searcher.search(query, wanted, count=False)
            for _key, address in hits.hits:
                stored = _stored(searcher, address)
                score = SUGGEST_SCORES.get(step)
                if score is None:
                    score = round(q.nearness(parsed, stored["name"]), 4)
                    if score < SUGGEST_NEAR_THRESHOLD:
                        continue
                if step == "prefix" and not stored["name"].lower().startswith(text.lower()):
                    continue  # past the indexed prefix length: check the rest here
                found.setdefault(
                    (kind, stored["id"]),
                    {"text": stored["name"], "kind": kind, "id": stored["id"], "score": score},
                )
        if len(found) >= limit:
            break
    ordered = sorted(found.values(), key=lambda s: (-s["score"], len(s["text"]), s["text"]))
    return ordered[:limit]


def _prefix_query(schema: tantivy.Schema, text: str) -> Query | None:
    prefix = q.name_prefix_term(text)
    return q.term(schema, "name_prefix", prefix) if prefix else None


def _words_query(
    searcher: tantivy.Searcher, schema: tantivy.Schema, parsed: q.ParsedQuery
) -> Query | None:
    """Every word of the name query found in the name; the last one as a prefix too."""
    if not parsed.terms:
        return None
    *whole, last = parsed.terms
    clauses = [(Occur.Must, q.term(schema, "name", word)) for word in whole]
    completions = [t for t, _ in searcher.terms_with_prefix("name", last, limit=q.MAX_EXPANSIONS)]
    clauses.append(
        (Occur.Must, q.any_of(schema, "name", list(dict.fromkeys([last, *completions]))))
    )
    return Query.boolean_query(clauses)


def _near_query(schema: tantivy.Schema, parsed: q.ParsedQuery) -> Query | None:
    words = [w for w in parsed.terms if len(w) >= SUGGEST_NEAR_MIN_CHARS]
    if not words:
        return None
    clauses = []
    for word in words:
        # what is being typed: the start of a name word within 1 edit (2 from 5 letters)
        near = Query.fuzzy_term_query(schema, "name", word, 1 if len(word) < 5 else 2, True, True)
        clauses.append((Occur.Should, near))
    return Query.boolean_query(clauses)


# --- the marketplace -----------------------------------------------------------------------


def marketplace(
    snapshot: Snapshot,
    filters: q.Filters,
    visibility: q.Visibility,
    sort_by: str,
    limit: int,
    offset: int,
) -> tuple[list[dict[str, Any]], int]:
    """Published products, filtered and sorted; (one page, how many there are)."""
    searcher, schema = snapshot.searcher, snapshot.schema
    published = q.Filters(**{**filters.__dict__, "status": "published"})
    match = q.restrict(schema, None, "product", published, visibility)
    total = count_matches(searcher, match)
    if total <= offset:
        return [], total
    order = Order.Asc if sort_by == "name" else Order.Desc
    hits = searcher.search(
        match, limit, count=False, order_by_field=SORT_KEYS[sort_by], offset=offset, order=order
    ).hits
    items = []
    for _key, address in hits:
        stored = _stored(searcher, address)
        for only_in_search in ("status", "visibility"):
            stored.pop(only_in_search, None)
        items.append(stored)
    return items, total
