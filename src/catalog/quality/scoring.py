"""How four quality dimensions become one score and a level (pure)."""

from __future__ import annotations

import math

SCORE_PLACES = 4  # an overall score's decimal places (and a difference of two scores')
# Lowest overall score of each level, best first; below the last threshold is "poor".
LEVELS = (("excellent", 0.9), ("good", 0.75), ("fair", 0.5))


def overall_score(
    completeness: float, accuracy: float, consistency: float, timeliness: float
) -> float:
    """The mean of the four dimensions, rounded to SCORE_PLACES decimal places."""
    dimensions = (completeness, accuracy, consistency, timeliness)
    return round(math.fsum(dimensions) / 4, SCORE_PLACES)


def quality_level(score: float) -> str:
    """The level of an (already rounded) overall score, so 0.9 is excellent, not 0.8999…."""
    for level, threshold in LEVELS:
        if score >= threshold:
            return level
    return "poor"
