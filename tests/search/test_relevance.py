"""The judged query set (judgments.py) over the demo catalog, on both databases: every query
puts its right answers in the top 3. bench/relevance.py reports MRR and nDCG@10 of the same set
before and after an engine change."""

from __future__ import annotations

from httpx import AsyncClient

from catalog.demo import DemoLoader
from tests.search.judgments import JUDGMENTS
from tests.support.api import ok
from tests.support.relevance import score, summary
from tests.support.search import caught_up


async def test_every_judged_query_finds_its_answers_in_the_top_3(client: AsyncClient) -> None:
    await DemoLoader(client).load()
    await caught_up(client, timeout=60)
    scores = []
    for judgment in JUDGMENTS:
        answer = ok(
            await client.get("/api/discover/search", params={"q": judgment.query, "limit": 10})
        )
        scores.append(score(judgment, [r["name"] for r in answer["results"]]))
    failed = {s.judgment.query: list(s.ranked[:3]) for s in scores if not s.passed}
    assert failed == {}
    totals = summary(scores)
    assert totals["queries"] >= 40
    assert totals["mrr"] >= 0.95, totals
