"""The engine over a real Tantivy index built from product rows (no HTTP): hostile text never
raises, filters and visibility bound results as well as totals, ranking equals the blend over
every match, pages never overlap, and a Rust panic becomes an error the API can answer."""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
import tantivy

from catalog.search import engine
from catalog.search import query as q
from catalog.search.batch import Batch, apply
from catalog.search.documents import Member, ProductSource, TagNode, Usage
from catalog.search.index import EngineFailure, IndexState, Snapshot, _guarded, read_state
from catalog.search.projector import _create_index
from catalog.search.ranking import Weights, freshness

WEIGHTS = Weights(0.7, 0.15, 0.1, 0.05)
NOW = datetime(2026, 6, 1, tzinfo=UTC)
TEAMS = ("finance", "risk", "sales")
SUBJECTS = ("Ledger", "Customer", "Invoice")


def build(path: Path, products: list[ProductSource], forest: dict[str, TagNode]) -> Snapshot:
    index = _create_index(str(path))
    writer = index.writer(64_000_000, 1)
    state = IndexState(1, 0, NOW.isoformat(), time.time(), "test", tuple(WEIGHTS.__dict__.values()))
    apply(
        writer,
        Batch(products={p.id: p for p in products}, forest=forest, weights=WEIGHTS),
        state,
        replace=False,
    )
    writer.commit()
    index.reload()
    searcher = index.searcher()
    found = read_state(searcher, index.schema)
    assert found == state
    return Snapshot(searcher, index.schema, path.name, found)


def catalog(n: int = 300, seed: int = 7) -> tuple[list[ProductSource], dict[str, TagNode]]:
    rng = random.Random(seed)
    forest = {
        "t-root": TagNode("t-root", "sensitivity", None),
        "t-pii": TagNode("t-pii", "pii", "t-root"),
        "t-gold": TagNode("t-gold", "gold", None),
    }
    products = []
    for i in range(n):
        team = TEAMS[i % 3]
        products.append(
            ProductSource(
                id=f"p{i:04d}",
                name=f"{rng.choice(SUBJECTS)} {rng.choice(['Report', 'Feed'])} {i}",
                description=f"data about {rng.choice(['revenue', 'churn', 'claims'])}",
                team=team,
                category=rng.choice(["reporting", "analytics"]),
                owner="o",
                status=rng.choice(["published", "draft"]),
                visibility="restricted" if i % 5 == 0 else "public",
                # many ties: a tenth share one timestamp, as a bulk import makes them
                updated_at=NOW - timedelta(days=0 if i % 10 == 0 else rng.randint(1, 400)),
                tags=[forest["t-pii"]] if i % 4 == 0 else [forest["t-gold"]],
                members=[Member(f"e{i}", f"customer_amount_{i % 7}", "an amount", rng.random())],
                usage=Usage(views=rng.choice([0, 0, 0, 5, 50]), rating_count=0),
            )
        )
    return products, forest


@pytest.fixture
def snapshot(tmp_path: Path) -> Snapshot:
    products, forest = catalog()
    return build(tmp_path, products, forest)


def run(
    snapshot: Snapshot,
    text: str = "",
    *,
    sort: str = "relevance",
    limit: int = 20,
    offset: int = 0,
    filters: q.Filters | None = None,
    visibility: q.Visibility | None = None,
) -> engine.SearchAnswer:
    request = engine.SearchRequest(
        q.parse(text),
        filters or q.Filters(),
        visibility or q.Visibility(),
        sort,
        limit,
        offset,
        explain=True,
    )
    return engine.search(snapshot, request, WEIGHTS, NOW.timestamp())


HOSTILE = [
    "'",
    '"',
    "(",
    ")",
    "((ledger",
    "ledger)",
    "name:ledger",
    "nosuchfield:x",
    "*",
    "led*",
    "~",
    "ledger~2",
    "^",
    "ledger^10",
    "AND",
    "ledger AND OR NOT",
    "+ledger -customer",
    "[0 TO 9]",
    "{a TO b}",
    "/regex.*/",
    "\\",
    "\x00",
    "a\x00b",
    "é" * 50,
    "🙂 ledger",
    "x" * 10_000,
    "ledger " * 2_000,
    ":" * 300,
    "NEAR(a b)",
    "'; DROP TABLE x; --",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_any_string_is_a_valid_query(snapshot: Snapshot, text: str) -> None:
    for sort in ("relevance", "popularity", "recent", "name"):
        answer = run(snapshot, text, sort=sort)
        assert answer.total >= 0
        assert len(answer.results) <= 20
    assert isinstance(engine.suggest(snapshot, text, 10, q.Visibility()), list)


def test_words_match_as_typed_as_prefixes_and_near(snapshot: Snapshot) -> None:
    assert run(snapshot, "ledger").total == run(snapshot, "ledg").total > 0
    typo = run(snapshot, "ledgr")
    assert typo.fuzzy
    assert typo.total == run(snapshot, "ledger").total
    assert run(snapshot, "zzzz").total == 0
    assert run(snapshot, "ledger zzzz").total == 0  # every word must match


def test_filters_and_visibility_bound_results_totals_and_facets(snapshot: Snapshot) -> None:
    hidden = q.Visibility(see_all=False, team="finance")
    for text in ("", "ledger", "customer amount"):
        for sort in ("relevance", "popularity", "recent", "name"):
            everything = run(snapshot, text, sort=sort, limit=100, offset=0)
            seen = run(snapshot, text, sort=sort, limit=100, visibility=hidden)
            pages = [
                r
                for offset in range(0, seen.total, 100)
                for r in run(
                    snapshot, text, sort=sort, limit=100, offset=offset, visibility=hidden
                ).results
            ]
            assert all(r["visibility"] != "restricted" or r["team"] == "finance" for r in pages)
            assert len(pages) == seen.total < everything.total
            assert sum(f["count"] for f in seen.facets["team"]) == seen.total
            risk = run(
                snapshot,
                text,
                sort=sort,
                limit=100,
                filters=q.Filters(team="risk", tag="SENSITIVITY"),
                visibility=hidden,
            )
            assert all(r["team"] == "risk" and "pii" in r["tags"] for r in risk.results)
            assert all(r["visibility"] != "restricted" for r in risk.results)


@pytest.mark.parametrize("sort", ["relevance", "popularity", "recent", "name"])
@pytest.mark.parametrize("text", ["", "customer", "report"])
def test_pages_are_stable_under_ties(snapshot: Snapshot, sort: str, text: str) -> None:
    total = run(snapshot, text, sort=sort).total
    seen = [
        r["id"]
        for offset in range(0, total, 7)
        for r in run(snapshot, text, sort=sort, limit=7, offset=offset).results
    ]
    assert len(seen) == len(set(seen)) == total
    again = [r["id"] for r in run(snapshot, text, sort=sort, limit=min(total, 100)).results]
    assert again == seen[: len(again)]


@pytest.mark.parametrize("text", ["", "customer", "ledger report", "claims"])
def test_relevance_is_the_blend_over_every_match(snapshot: Snapshot, text: str) -> None:
    answer = run(snapshot, text, limit=20)
    explained = [r["explain"] for r in answer.results]
    scores = [r["score"] for r in answer.results]
    assert scores == sorted(scores, reverse=True)
    for result, explain in zip(answer.results, explained, strict=True):
        blended = sum(
            explain[k] * explain["weights"][k]
            for k in ("text", "popularity", "quality", "freshness")
        )
        assert result["score"] == pytest.approx(blended, abs=1e-5)
        updated = datetime.fromisoformat(result["updated_at"]).timestamp() * 1_000_000
        assert explain["freshness"] == pytest.approx(
            freshness(int(updated), NOW.timestamp()), abs=1e-5
        )
    # Every match scored with the same formula: no unseen match beats the page's last.
    everyone = search_all(snapshot, text)
    best = sorted(everyone, key=lambda r: -r[1])[:20]
    assert [r[1] for r in best] == pytest.approx(scores, abs=1e-5)


def search_all(snapshot: Snapshot, text: str) -> list[tuple[str, float]]:
    """(id, blended score) of every match: the text share against the best BM25 of all."""
    parsed = q.parse(text)
    searcher, schema = snapshot.searcher, snapshot.schema
    if parsed.empty:
        match, scored = q.restrict(schema, None, "product"), None
    else:
        found = q.text_query(searcher, schema, parsed)
        assert found is not None
        match = q.restrict(schema, found.match, "product")
        scored = q.restrict(schema, found.scored, "product")
    hits = searcher.search(scored or match, 10_000, count=False).hits
    best = max((score for score, _ in hits), default=0.0) if scored is not None else 0.0
    rows = []
    for score, address in hits:
        doc = searcher.doc(address)
        stored = orjson.loads(doc["doc"][0])
        [pop] = searcher.fast_field_values("popularity", [address])
        [qual] = searcher.fast_field_values("quality", [address])
        [updated] = searcher.fast_field_values("updated_ts", [address])
        text_share = score / best if best else 0.0
        blended = WEIGHTS.blend(
            text_share,
            float(pop or 0),
            float(qual or 0),
            freshness(int(updated or 0), NOW.timestamp()),
        )
        rows.append((stored["id"], blended))
    return rows


def test_a_panic_in_the_engine_becomes_an_engine_failure(snapshot: Snapshot) -> None:
    query = tantivy.Query.all_query()
    with pytest.raises(EngineFailure):
        _guarded(snapshot.searcher.search, (query, 0))  # limit 0 panics inside Tantivy
