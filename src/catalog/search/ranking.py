"""How search results are ranked: four signals blended by weights from settings.

    score = w_text * text + w_popularity * popularity + w_quality * quality
            + w_freshness * freshness                     (each signal in 0..1)

- text: the engine's BM25 score of the document (field-weighted, query.py) divided by the best
  BM25 score among all matches: 1 for the best text match, less for weaker ones; 0 without a
  query. `explain=true` shows both the engine's score and this share.
- popularity and quality: stored with the document (documents.py); `prior` = w_popularity *
  popularity + w_quality * quality, `boost` and `rank_hint` (below) are stored too, made with
  the weights the index was built with (an index built with other weights is rebuilt at
  start);
- freshness: 1 / (1 + age in days / 30) since the product last changed, at query time.

Finding the best page without blending every match in Python:

- With a query, the engine ranks all matches in one pass by BM25 x (1 + prior / w_text)
  (Tantivy's score weighting by the fast field `boost`), which orders documents almost as the
  blend does: the blend differs only by the normalisation and by freshness. The exact blend
  is then computed for the best RERANK_CANDIDATES (at least 4 x offset + limit) of that
  order. Measured on the benchmark catalog (bench/search_latency.py --check), the page equals
  the blend over every match for all of its queries.
- Without a query the blend is prior + w_freshness * freshness, and the page is exact. Each
  document stores `rank_hint` = prior + w_freshness * its freshness when it was indexed: as
  freshness only decays, no document's blend ever exceeds its hint. The engine sorts the
  matches by hint; the best ones are blended with today's freshness, and once the page's
  last result beats the next hint no other document can enter the page (else more are read).
  Hints drift only while a document is not re-indexed; the writer re-indexes the stalest
  documents a little at a time (projector.py), so the first read nearly always settles it.

Ties are broken by a hash of the id, so pages never overlap or reorder between requests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import tantivy
from tantivy import Query

from catalog.settings import Settings

FRESHNESS_DAYS = 30.0
RERANK_CANDIDATES = 200
MAX_CANDIDATES = 20_000


@dataclass(frozen=True)
class Weights:
    text: float
    popularity: float
    quality: float
    freshness: float

    @classmethod
    def from_settings(cls, settings: Settings) -> Weights:
        return cls(
            text=settings.search_weight_text,
            popularity=settings.search_weight_popularity,
            quality=settings.search_weight_quality,
            freshness=settings.search_weight_freshness,
        )

    def blend(self, text: float, popularity: float, quality: float, freshness: float) -> float:
        """The score: the formula at the top of this module."""
        return self.text * text + self.prior(popularity, quality) + self.freshness * freshness

    def prior(self, popularity: float, quality: float) -> float:
        """The part of the blend that does not change with time or the query."""
        return self.popularity * popularity + self.quality * quality

    def boost(self, prior: float) -> float:
        """The fast-field value that makes Tantivy score BM25 x (1 + prior / w_text): its
        `weight_by_field` multiplies by log2(2 + value)."""
        if self.text <= 0:
            return 0.0
        return float(2 ** (1 + prior / self.text) - 2)


def freshness(updated_us: int, now_s: float) -> float:
    age_days = max(0.0, now_s - updated_us / 1_000_000) / 86_400
    return 1.0 / (1.0 + age_days / FRESHNESS_DAYS)


@dataclass
class Ranked:
    address: tantivy.DocAddress
    key: int
    bm25: float
    text: float
    popularity: float
    quality: float
    freshness: float
    score: float


def rank(
    searcher: tantivy.Searcher,
    match: Query,
    scored: Query | None,
    *,
    window: int,
    weights: Weights,
    now_s: float,
) -> list[Ranked]:
    """The `window` best matches of `match` by blended score, best first (`scored` matches the
    same documents with text scores; None for a listing without a query)."""
    if scored is None or weights.text <= 0:
        return _without_text(searcher, match, window, weights, now_s)
    candidates = max(RERANK_CANDIDATES, 4 * window)
    hits = searcher.search(scored, candidates, count=False, weight_by_field="boost").hits
    return _blend(searcher, hits, window, weights, now_s, text=True)


def _without_text(
    searcher: tantivy.Searcher, match: Query, window: int, weights: Weights, now_s: float
) -> list[Ranked]:
    """Exact: the best `rank_hint`s (each at least the document's blend, now or later), blended
    with today's freshness, until the page's last result beats the next hint."""
    k = max(RERANK_CANDIDATES, 4 * window)
    while True:
        hits = searcher.search(match, k, count=False, order_by_field="rank_hint").hits
        ranked = _blend(searcher, hits, window, weights, now_s, text=False)
        bound = float(hits[-1][0]) if hits else 0.0
        exhausted = len(hits) < k
        settled = len(ranked) >= window and ranked[window - 1].score > bound
        if exhausted or settled or k >= MAX_CANDIDATES:
            return ranked
        k *= 4


def _blend(
    searcher: tantivy.Searcher,
    hits: list[tuple[Any, tantivy.DocAddress]],
    window: int,
    weights: Weights,
    now_s: float,
    *,
    text: bool,
) -> list[Ranked]:
    """The `window` best candidates by blended score. With `text`, a candidate's BM25 is its
    engine score divided back by the boost it was weighted with, and the text share is
    relative to the best candidate's. (A tight loop over plain lists: it runs for a few
    hundred candidates on every search.)"""
    if not hits:
        return []
    docs = [address for _score, address in hits]
    keys = searcher.fast_field_values("key_hash", docs)
    popularity = searcher.fast_field_values("popularity", docs)
    quality = searcher.fast_field_values("quality", docs)
    updated = searcher.fast_field_values("updated_ts", docs)
    w_text, w_pop, w_qual, w_fresh = (
        weights.text,
        weights.popularity,
        weights.quality,
        weights.freshness,
    )
    days = 86_400_000_000 * FRESHNESS_DAYS  # microseconds in FRESHNESS_DAYS
    now_us = now_s * 1_000_000
    n = len(docs)
    bm25 = [0.0] * n
    rest = [0.0] * n
    for i in range(n):
        prior = w_pop * (popularity[i] or 0.0) + w_qual * (quality[i] or 0.0)
        age = now_us - (updated[i] or 0)
        rest[i] = prior + w_fresh / (1.0 + (age if age > 0 else 0.0) / days)
        if text:
            bm25[i] = float(hits[i][0]) / (1.0 + prior / w_text)
    top = max(bm25) if text else 0.0
    scale = w_text / top if top else 0.0
    order = sorted(range(n), key=lambda i: (-(bm25[i] * scale + rest[i]), keys[i] or 0))
    ranked = []
    for i in order[:window]:
        pop, qual = float(popularity[i] or 0.0), float(quality[i] or 0.0)
        share = bm25[i] / top if top else 0.0
        fresh = freshness(int(updated[i] or 0), now_s)
        score = weights.blend(share, pop, qual, fresh)
        ranked.append(Ranked(docs[i], int(keys[i] or 0), bm25[i], share, pop, qual, fresh, score))
    return ranked
