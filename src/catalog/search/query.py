"""What a user typed, turned into Tantivy queries; the filters and visibility of a search.

A query is never parsed as syntax: it is cut into words by the index's own analyzer (so
quotes, parentheses, `:`, `*`, `~`, `^`, field names and NUL are just separators), and the
queries are built from those words. Every word must match, in any text field, as:
- the word itself (BM25-scored, by field weight);
- a completion, for words of MIN_PREFIX_CHARS or more (the last word, being typed, from
  LAST_PREFIX_CHARS): the word's MAX_EXPANSIONS most
  frequent completions in the index's term dictionary match (`reven` finds `revenue`), the
  SCORED_EXPANSIONS most frequent of them scored as the word itself, a little lower;
- a near word, when the dictionary has neither the word nor a completion of it (a typo):
  terms within edit distance 1 (2 for words of 8 letters or more) match, at a fixed score.
Words typed joined into one (`shipment_balance`, `fx-rates`) also score as a phrase in names and
element lists, so the element `shipment_balance` beats a product that merely mentions both.

Two queries come out: `match` decides which documents match (over `all_text`, one posting
list per term: cheap for counting, facets and sorted listings) and `scored` matches exactly
the same documents, scored by field (name > tags > description > elements).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import tantivy
from tantivy import Occur, Query

from catalog.search.fields import ALL_TEXT, TEXT_WEIGHTS, prefix_analyzer, text_analyzer

MAX_QUERY_LENGTH = 200
MAX_TERMS = 12
MIN_PREFIX_CHARS = 3  # a 1-2 letter prefix would expand to a large part of the dictionary
LAST_PREFIX_CHARS = 2
MIN_FUZZY_CHARS = 4
MAX_EXPANSIONS = 50
SCORED_EXPANSIONS = 10
COMPLETION_WEIGHT = 0.8
FUZZY_WEIGHT = 0.5
PHRASE_WEIGHTS = {"name": TEXT_WEIGHTS["name"], "elements": 2.0}

_TEXT = text_analyzer()
_PREFIX = prefix_analyzer()


@dataclass(frozen=True)
class ParsedQuery:
    raw: str
    terms: tuple[str, ...]
    joined: tuple[tuple[str, ...], ...] = ()  # words typed as one (`shipment_balance`)

    @property
    def empty(self) -> bool:
        """No query at all: list everything by the chosen sort."""
        return not self.raw

    @property
    def unsearchable(self) -> bool:
        """Something was typed but no word in it (only punctuation)."""
        return bool(self.raw) and not self.terms


def parse(text: str | None) -> ParsedQuery:
    raw = (text or "").strip()
    terms = tuple(dict.fromkeys(_TEXT.analyze(raw)))[:MAX_TERMS]
    joined = []
    for chunk in raw.split()[:MAX_TERMS]:
        words = tuple(_TEXT.analyze(chunk))
        if 1 < len(words) <= MAX_TERMS and set(words) <= set(terms):
            joined.append(words)
    return ParsedQuery(raw=raw, terms=terms, joined=tuple(joined))


def name_prefix_term(text: str) -> str:
    """The `name_prefix` term of what was typed (lower-cased, accents folded, 20 chars max)."""
    prefixes = _PREFIX.analyze(text)
    return prefixes[-1] if prefixes else ""


@dataclass(frozen=True)
class Filters:
    team: str | None = None
    category: str | None = None
    status: str | None = None
    tag: str | None = None  # a tag name: the tag and its descendants


@dataclass(frozen=True)
class Visibility:
    see_all: bool = True
    team: str | None = None  # with see_all False: the team whose restricted products show


@dataclass
class TextQuery:
    match: Query
    scored: Query
    fuzzy: bool = False
    words: list[str] = field(default_factory=list)


def term(schema: tantivy.Schema, name: str, value: str) -> Query:
    return Query.term_query(schema, name, value)


def text_query(
    searcher: tantivy.Searcher, schema: tantivy.Schema, query: ParsedQuery
) -> TextQuery | None:
    """The queries for the words of `query`; None when a word can match nothing at all."""
    match: list[tuple[Occur, Query]] = []
    scored: list[tuple[Occur, Query]] = []
    fuzzy = False
    for position, word in enumerate(query.terms, start=1):
        last = position == len(query.terms)
        found = _word(searcher, schema, word, LAST_PREFIX_CHARS if last else MIN_PREFIX_CHARS)
        if found is None:
            return None  # a short word found nowhere: nothing can match all the words
        word_match, word_scored, near = found
        match.append((Occur.Must, word_match))
        scored.append((Occur.Must, word_scored))
        fuzzy = fuzzy or near
    if not fuzzy:
        for words in query.joined:
            for name, weight in PHRASE_WEIGHTS.items():
                phrase = Query.phrase_query(schema, name, list(words))
                scored.append((Occur.Should, Query.boost_query(phrase, weight)))
    return TextQuery(_all(match), _all(scored), fuzzy, list(query.terms))


def _all(clauses: list[tuple[Occur, Query]]) -> Query:
    return clauses[0][1] if len(clauses) == 1 else Query.boolean_query(clauses)


def _word(
    searcher: tantivy.Searcher, schema: tantivy.Schema, word: str, prefix_chars: int
) -> tuple[Query, Query, bool] | None:
    """(what matches the word, the same documents scored by field, whether it was taken as a
    typo). The scored query is a union over the text fields, which together hold exactly what
    `all_text` holds, so both match the same documents."""
    present = searcher.doc_freq(ALL_TEXT, word) > 0
    completions: list[str] = []
    if len(word) >= prefix_chars:
        found = searcher.terms_with_prefix(ALL_TEXT, word, limit=MAX_EXPANSIONS)
        completions = [completion for completion, _count in found if completion != word]
    scored: list[tuple[Occur, Query]] = []
    if present or completions:
        alternatives = ([word] if present else []) + completions
        for name, weight in TEXT_WEIGHTS.items():
            if present:
                scored.append((Occur.Should, Query.boost_query(term(schema, name, word), weight)))
            for completion in completions[:SCORED_EXPANSIONS]:
                completed = Query.boost_query(
                    term(schema, name, completion), weight * COMPLETION_WEIGHT
                )
                scored.append((Occur.Should, completed))
        rest = completions[SCORED_EXPANSIONS:]
        if rest:  # rarer completions match, unscored
            scored.append((Occur.Should, const(any_of(schema, ALL_TEXT, rest))))
        return any_of(schema, ALL_TEXT, alternatives), Query.boolean_query(scored), False
    if len(word) < MIN_FUZZY_CHARS:
        return None
    distance = 1 if len(word) < 8 else 2
    for name, weight in TEXT_WEIGHTS.items():
        near = Query.fuzzy_term_query(schema, name, word, distance)
        scored.append((Occur.Should, Query.const_score_query(near, weight * FUZZY_WEIGHT)))
    near_any = Query.fuzzy_term_query(schema, ALL_TEXT, word, distance)
    return near_any, Query.boolean_query(scored), True


def restrict(
    schema: tantivy.Schema,
    query: Query | None,
    kind: str,
    filters: Filters | None = None,
    visibility: Visibility | None = None,
) -> Query:
    """`query` (or every document of `kind`) narrowed to the filters and what the caller may
    see; the filters add nothing to scores."""
    clauses: list[tuple[Occur, Query]] = [(Occur.Must, const(term(schema, "kind", kind)))]
    if query is not None:
        clauses.append((Occur.Must, query))
    filters = filters or Filters()
    for name in ("team", "category", "status"):
        value = getattr(filters, name)
        if value is not None:
            clauses.append((Occur.Must, const(term(schema, name, value))))
    if filters.tag is not None:
        clauses.append((Occur.Must, const(term(schema, "tag_path", filters.tag.lower()))))
    if visibility is not None and not visibility.see_all:
        hidden: list[tuple[Occur, Query]] = [(Occur.Must, term(schema, "visibility", "restricted"))]
        if visibility.team is not None:
            hidden.append((Occur.MustNot, term(schema, "team", visibility.team)))
        clauses.append((Occur.MustNot, Query.boolean_query(hidden)))
    return Query.boolean_query(clauses)


def any_of(schema: tantivy.Schema, name: str, values: list[str]) -> Query:
    """Documents with any of the terms. (A union of term queries: Tantivy's TermSetQuery
    intersects an automaton with the whole term dictionary, ~0.2 ms a field here.)"""
    if len(values) == 1:
        return term(schema, name, values[0])
    return Query.boolean_query([(Occur.Should, term(schema, name, value)) for value in values])


def const(query: Query) -> Query:
    return Query.const_score_query(query, 0.0)


# --- how near a name is to what was typed (suggestion scores) ---------------------------


def trigrams(text: str) -> set[str]:
    """pg_trgm's trigrams: each word padded with two spaces before, one after."""
    found: set[str] = set()
    for word in _TEXT.analyze(text):
        padded = f"  {word} "
        found.update(padded[i : i + 3] for i in range(len(padded) - 2))
    return found


def similarity(left: str, right: str) -> float:
    """Shared trigrams over all trigrams of both (pg_trgm's `similarity()`)."""
    a, b = trigrams(left), trigrams(right)
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


def nearness(query: ParsedQuery, name: str) -> float:
    """How near a name is to a query: as a whole, or word by word (the best word each)."""
    words = _TEXT.analyze(name)
    per_term = [max((similarity(t, w) for w in words), default=0.0) for t in query.terms]
    by_words = sum(per_term) / len(per_term) if per_term else 0.0
    return max(similarity(" ".join(query.terms), name), by_words)
