"""What a user typed, reduced to terms the text indexes can take safely.

Only word characters survive (`\\w+`), so tsquery and FTS5 operators, quotes, backslashes and
SQL fragments in a query are inert: they never reach a query parser as syntax. Terms are
matched as prefixes ("reven" finds "revenue") and all must match; when none do, a fuzzy
match on names catches typos.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_QUERY_LENGTH = 200
MAX_TERMS = 12
_TERM = re.compile(r"\w+")


@dataclass(frozen=True)
class ParsedQuery:
    raw: str
    terms: tuple[str, ...]

    @property
    def empty(self) -> bool:
        """No query at all: list everything by the chosen sort."""
        return not self.raw

    @property
    def unsearchable(self) -> bool:
        """Something was typed but nothing in it can match (only punctuation)."""
        return bool(self.raw) and not self.terms

    @property
    def text(self) -> str:
        return " ".join(self.terms)

    def tsquery(self) -> str:
        """PostgreSQL `to_tsquery('simple', ...)` text: every term, as a prefix."""
        return " & ".join(f"{term}:*" for term in self.terms)

    def fts5(self) -> str:
        """SQLite FTS5 MATCH text: every term, quoted, as a prefix."""
        return " ".join(f'"{term}"*' for term in self.terms)


def parse(query: str | None) -> ParsedQuery:
    raw = (query or "").strip()
    terms = tuple(dict.fromkeys(t.lower() for t in _TERM.findall(raw)))[:MAX_TERMS]
    return ParsedQuery(raw=raw, terms=terms)


def trigrams(text: str) -> set[str]:
    """pg_trgm's trigrams: each word lower-cased and padded with two spaces before, one after."""
    found: set[str] = set()
    for word in _TERM.findall(text.lower()):
        padded = f"  {word} "
        found.update(padded[i : i + 3] for i in range(len(padded) - 2))
    return found


def similarity(left: str, right: str) -> float:
    """pg_trgm `similarity()`: shared trigrams over all trigrams of both."""
    a, b = trigrams(left), trigrams(right)
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


def word_similarity(term: str, text: str) -> float:
    """The best `similarity` of `term` to one word of `text` (a typo inside a longer name)."""
    return max((similarity(term, word) for word in _TERM.findall(text)), default=0.0)


def fuzzy_score(query: ParsedQuery, text: str) -> float:
    """How near a name is to a query: as a whole, or word by word (mean over the terms)."""
    per_term = [word_similarity(term, text) for term in query.terms]
    by_words = sum(per_term) / len(per_term) if per_term else 0.0
    return max(similarity(query.text, text), by_words)
