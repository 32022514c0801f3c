"""How search results are ranked: four signals blended by weights from settings.

    score = w_text * text + w_popularity * popularity + w_quality * quality
            + w_freshness * freshness                    (each signal in 0..1)

- text: how well the query matches. PostgreSQL: `ts_rank_cd` over the weighted document
  (name > tags > description > elements), normalised to 0..1; when no word matches, 0.9 x
  the trigram (word) similarity of the name (typos). SQLite: FTS5 `bm25` with the same
  column weights, mapped to 0..1 as s/(1+s). 0 when there is no query.
- popularity: x / (x + 100) with x = views + 3 x unique viewers + 10 x approved access
  requests + 2 x the sum of ratings (saturates: the 10th view matters more than the 10,000th).
- quality: the mean quality score of the product's measured data elements; 0.5 (neutral)
  when none is measured.
- freshness: 1 / (1 + age in days / 30) since the product last changed.

All four are SQL expressions computed in the database, so sorting and pagination stay in
SQL. With a query, relevance blends the signals over the 1000 best text matches (more when
the page lies deeper): a result outside them would need a text score far below theirs to
win on the other signals, and scoring every match would cost in proportion to the match
set. `explain=true` returns the four values and the weights.
"""

from __future__ import annotations

from dataclasses import dataclass

from catalog.settings import Settings

_USE = (
    "(coalesce(u.view_count, 0) + 3 * coalesce(u.unique_viewers, 0)"
    " + 10 * coalesce(u.approved_access, 0) + 2 * coalesce(u.rating_sum, 0))"
)
POPULARITY = f"({_USE} / ({_USE} + 100.0))"
QUALITY = "coalesce(s.quality_score, 0.5)"
FRESHNESS = {
    "postgresql": "(1.0 / (1.0 + extract(epoch from (now() - s.updated_at)) / 86400.0 / 30.0))",
    "sqlite": "(1.0 / (1.0 + (julianday('now') - julianday(s.updated_at)) / 30.0))",
}


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

    def blend(self, text: str, popularity: str, quality: str, freshness: str) -> str:
        """The score as SQL; weights are floats from settings, never user input."""
        return (
            f"({self.text:.6f} * {text} + {self.popularity:.6f} * {popularity}"
            f" + {self.quality:.6f} * {quality} + {self.freshness:.6f} * {freshness})"
        )
