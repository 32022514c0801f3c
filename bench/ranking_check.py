"""Does the engine's first page equal the blend over every match? (search/ranking.py)

The engine ranks by BM25 x (1 + prior / w_text) in one pass and blends exactly only its best
candidates; here every match is blended, the slow way, and the two first pages compared.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson

from catalog.search import engine
from catalog.search import query as q
from catalog.search.directory import IndexDirectory
from catalog.search.index import Expected, SearchIndex, Snapshot
from catalog.search.ranking import Weights, freshness
from catalog.settings import Settings

PAGE = 20


def exhaustive(
    snapshot: Snapshot, parsed: q.ParsedQuery, filters: q.Filters, weights: Weights, now_s: float
) -> list[str]:
    searcher, schema = snapshot.searcher, snapshot.schema
    if parsed.empty:
        match, scored = q.restrict(schema, None, "product", filters), None
    else:
        found = q.text_query(searcher, schema, parsed)
        if found is None:
            return []
        match = q.restrict(schema, found.match, "product", filters)
        scored = q.restrict(schema, found.scored, "product", filters)
    hits = searcher.search(scored or match, 1_000_000, count=False).hits
    if not hits:
        return []
    addresses = [address for _score, address in hits]
    best = max(score for score, _ in hits) if scored is not None else 0.0
    popularity = searcher.fast_field_values("popularity", addresses)
    quality = searcher.fast_field_values("quality", addresses)
    updated = searcher.fast_field_values("updated_ts", addresses)
    keys = searcher.fast_field_values("key_hash", addresses)
    rows = []
    for i, (score, address) in enumerate(hits):
        text = score / best if best else 0.0
        blended = weights.blend(
            text, popularity[i] or 0.0, quality[i] or 0.0, freshness(int(updated[i] or 0), now_s)
        )
        rows.append((-blended, keys[i] or 0, address))
    rows.sort(key=lambda r: (r[0], r[1]))
    return [orjson.loads(searcher.doc(r[2])["doc"][0])["id"] for r in rows[:PAGE]]


def agreement(index_dir: Path, url: str, searches: list[dict[str, str]]) -> dict[str, Any]:
    settings = Settings(database_url=url, search_index_dir=index_dir)
    reader = SearchIndex(IndexDirectory(index_dir), Expected.of(settings))
    snapshot = reader.refresh_now()
    assert snapshot is not None, reader.problem
    weights = Weights.from_settings(settings)
    now_s = time.time()
    same = []
    for params in searches:
        parsed = q.parse(params.get("q"))
        filters = q.Filters(
            team=params.get("team"),
            category=params.get("category"),
            status=params.get("status"),
            tag=params.get("tag"),
        )
        request = engine.SearchRequest(
            parsed, filters, q.Visibility(), "relevance", PAGE, 0, explain=False
        )
        page = [r["id"] for r in engine.search(snapshot, request, weights, now_s).results]
        same.append(page == exhaustive(snapshot, parsed, filters, weights, now_s))
    reader.close()
    return {"queries": len(same), "pages_equal": sum(same)}
