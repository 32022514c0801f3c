"""Scoring a ranked answer against a judgment: top-3 pass, reciprocal rank, nDCG@10."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from tests.search.judgments import Judgment


@dataclass(frozen=True)
class Score:
    judgment: Judgment
    ranked: tuple[str, ...]
    passed: bool
    reciprocal_rank: float
    ndcg10: float


def score(judgment: Judgment, ranked: Sequence[str]) -> Score:
    top3 = list(ranked[:3])
    passed = all(name in top3 for name in judgment.must)
    if judgment.within:
        passed = (
            passed
            and len(top3) == min(3, len(judgment.within))
            and all(name in judgment.within for name in top3)
        )
    relevant = judgment.relevant
    first = next((i for i, name in enumerate(ranked) if name in relevant), None)
    dcg = sum(1 / math.log2(i + 2) for i, name in enumerate(ranked[:10]) if name in relevant)
    ideal = sum(1 / math.log2(i + 2) for i in range(min(10, len(relevant))))
    return Score(
        judgment,
        tuple(ranked),
        passed,
        0.0 if first is None else 1 / (first + 1),
        dcg / ideal if ideal else 0.0,
    )


def summary(scores: Sequence[Score]) -> dict[str, float]:
    n = len(scores)
    return {
        "queries": n,
        "passed": sum(s.passed for s in scores),
        "mrr": round(sum(s.reciprocal_rank for s in scores) / n, 4),
        "ndcg10": round(sum(s.ndcg10 for s in scores) / n, 4),
    }
