"""Search relevance on the judged query set (tests/search/judgments.py): MRR and nDCG@10.

    .venv/bin/python -m bench.relevance [--database sqlite|postgresql] [--baseline REF]

Loads the demo catalog with `catalog seed-demo`, serves it, and runs every judged query
through `GET /api/discover/search` as a client would. With `--baseline REF` the same is done
first with the code of git ref REF (e.g. the commit before the search engine changed), so one
run shows before and after. Prints one row per engine and per kind of query.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
from tests.search.judgments import JUDGMENTS
from tests.support.relevance import Score, score, summary

from bench.support import baseline_source, catalog_env, save, scratch_postgres, served


def seed(url: str, source: Path | None, index_dir: str) -> None:
    env = catalog_env(source) | {
        "CATALOG_DATABASE_URL": url,
        "CATALOG_SEARCH_INDEX_DIR": index_dir,
        "LOG_LEVEL": "warning",
    }
    for command in (["migrate"], ["seed-demo"]):
        subprocess.run([sys.executable, "-m", "catalog", *command], env=env, check=True)


def judge(base: str) -> list[Score]:
    scores = []
    with httpx.Client(base_url=base, timeout=30) as client:
        for judgment in JUDGMENTS:
            answer = client.get(
                "/api/discover/search", params={"q": judgment.query, "limit": 10}
            ).raise_for_status()
            scores.append(score(judgment, [r["name"] for r in answer.json()["results"]]))
    return scores


def wait_until_searchable(base: str) -> None:
    """The new engine builds its index at start: wait (with a deadline) until it answers."""
    deadline = time.monotonic() + 120
    while httpx.get(f"{base}/api/discover/search", params={"q": "ledger"}).status_code == 503:
        if time.monotonic() > deadline:
            raise RuntimeError("the search index did not become ready")
        time.sleep(0.2)


def run(database: str, source: Path | None, label: str) -> dict[str, Any]:
    index_dir = tempfile.mkdtemp(prefix="relevance-index-")
    if database == "postgresql":
        url = scratch_postgres(f"catalog_bench_relevance_{label.split()[0]}", source=source)
    else:
        url = f"sqlite:///{Path(tempfile.mkdtemp()) / 'relevance.db'}"
    seed(url, source, index_dir)
    env = {"CATALOG_DATABASE_URL": url, "CATALOG_SEARCH_INDEX_DIR": index_dir}
    with served(env, port=18131, source=source) as base:
        wait_until_searchable(base)
        scores = judge(base)
    by_kind: dict[str, list[Score]] = defaultdict(list)
    for item in scores:
        by_kind[item.judgment.kind].append(item)
    return {
        "engine": label,
        "all": summary(scores),
        "kinds": {kind: summary(items) for kind, items in by_kind.items()},
        "failed": [
            {"query": s.judgment.query, "top3": list(s.ranked[:3])} for s in scores if not s.passed
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--baseline", metavar="REF", help="also judge the engine of git ref REF")
    args = parser.parse_args()
    rows = []
    if args.baseline:
        rows.append(run(args.database, baseline_source(args.baseline), f"before ({args.baseline})"))
    rows.append(run(args.database, None, "after"))
    save(f"relevance_{args.database}", {"database": args.database, "rows": rows})
    print(f"| {args.database} | queries | top-3 passed | MRR | nDCG@10 |")
    print("|---|---|---|---|---|")
    for row in rows:
        total = row["all"]
        print(
            f"| {row['engine']} | {total['queries']} | {total['passed']} | {total['mrr']} | "
            f"{total['ndcg10']} |"
        )
    for row in rows:
        print(f"\n{row['engine']} by kind:")
        for kind, stats in row["kinds"].items():
            print(
                f"  {kind:12} passed {stats['passed']}/{stats['queries']}  MRR {stats['mrr']}"
                f"  nDCG@10 {stats['ndcg10']}"
            )
        for failure in row["failed"]:
            print(f"  FAILED {failure['query']!r}: {failure['top3']}")


if __name__ == "__main__":
    main()
