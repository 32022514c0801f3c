"""Generate a large catalog for the search benchmark: products with tags, elements and usage.

    .venv/bin/python -m bench.search_data DATABASE_URL [--products 100000]

Rows are written straight into the tables in large batches (going through the API would
take hours for 100k products with their tags and members), bypassing the change log: the
search index is then built from the tables by a rebuild (`catalog search rebuild`, or
`catalog serve` on an empty index directory). The data is deterministic (fixed seed) so runs
are comparable.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from datetime import timedelta
from typing import Any

from sqlalchemy import insert

from catalog.core.ids import new_id
from catalog.core.time import utcnow
from catalog.db.engine import WRITE, create_engine, session_factory
from catalog.db.models import (
    DataElement,
    DataElementConcept,
    DataProduct,
    ProductElement,
    ProductTag,
    ProductUsageStats,
    Representation,
    Tag,
)
from catalog.kit.repository import table_of
from catalog.settings import Settings

TEAMS = [
    "finance",
    "risk",
    "marketing",
    "operations",
    "sales",
    "hr",
    "supply-chain",
    "customer-success",
    "legal",
    "engineering",
]
CATEGORIES = ["reporting", "analytics", "operational", "reference", "machine-learning"]
QUALIFIERS = [
    "Daily",
    "Monthly",
    "Quarterly",
    "Realtime",
    "Curated",
    "Aggregated",
    "Raw",
    "Historical",
    "Forecast",
    "Reconciled",
    "Regional",
    "Global",
]
SUBJECTS = [
    "Customer",
    "Revenue",
    "Order",
    "Invoice",
    "Shipment",
    "Ledger",
    "Campaign",
    "Supplier",
    "Employee",
    "Payment",
    "Inventory",
    "Contract",
    "Claim",
    "Policy",
    "Account",
    "Product",
    "Subscription",
    "Ticket",
    "Lead",
    "Asset",
]
NOUNS = [
    "Report",
    "Snapshot",
    "Metrics",
    "Events",
    "Balances",
    "Summary",
    "Feed",
    "Cube",
    "Dataset",
    "Scores",
    "Positions",
    "Movements",
    "Signals",
    "Facts",
]
TAG_GROUPS = {
    "sensitivity": ["pii", "confidential", "public-data", "restricted-data"],
    "quality": ["gold", "silver", "bronze"],
    "cadence": ["real-time", "hourly", "daily-refresh", "monthly-refresh"],
    "domain": [f"domain-{t}" for t in TEAMS],
    "regulation": ["gdpr", "sox", "bcbs239", "hipaa", "ccpa", "mifid"],
}


def chunks(rows: list[dict[str, Any]], size: int = 5000) -> list[list[dict[str, Any]]]:
    return [rows[i : i + size] for i in range(0, len(rows), size)]


async def generate(database_url: str, products: int, elements: int) -> None:
    rng = random.Random(42)
    settings = Settings(database_url=database_url)
    engine = create_engine(settings)
    sessions = session_factory(engine.execution_options(**WRITE))
    now = utcnow()
    started = time.perf_counter()
    async with sessions() as session, session.begin():
        concept = {
            "id": new_id(),
            "name": "Bench Concept",
            "object_class": "Bench",
            "property": "Value",
            "definition": "",
            "created_at": now,
            "updated_at": now,
        }
        representation = {
            "id": new_id(),
            "name": "bench-text",
            "data_type": "string",
            "created_at": now,
            "updated_at": now,
        }
        await session.execute(insert(table_of(DataElementConcept)), [concept])
        await session.execute(insert(table_of(Representation)), [representation])
        element_subjects = [SUBJECTS[i % len(SUBJECTS)] for i in range(elements)]
        element_rows = [
            {
                "id": new_id(),
                "identifier": f"urn:bench:de:{i}",
                "name": f"{subject.lower()}_{rng.choice(NOUNS).lower()}_{i}",
                "definition": f"The {rng.choice(QUALIFIERS).lower()} value of "
                f"{subject.lower()} number {i}",
                "data_element_concept_id": concept["id"],
                "representation_id": representation["id"],
                "registration_status": "published",
                "version": 1,
                "metadata": {},
                "quality_score": round(rng.uniform(0.3, 1.0), 3),
                "created_at": now,
                "updated_at": now,
            }
            for i, subject in enumerate(element_subjects)
        ]
        by_subject: dict[str, list[dict[str, Any]]] = {}
        for row, subject in zip(element_rows, element_subjects, strict=True):
            by_subject.setdefault(subject, []).append(row)
        for batch in chunks(element_rows):
            await session.execute(insert(table_of(DataElement)), batch)
        tag_ids: list[str] = []
        for group, names in TAG_GROUPS.items():
            parent = new_id()
            await session.execute(
                insert(table_of(Tag)),
                [
                    {
                        "id": parent,
                        "name": group,
                        "category": group,
                        "usage_count": 0,
                        "description": "",
                        "created_at": now,
                        "updated_at": now,
                    }
                ],
            )
            children: list[dict[str, Any]] = [
                {
                    "id": new_id(),
                    "name": n,
                    "category": group,
                    "parent_tag_id": parent,
                    "usage_count": 0,
                    "description": "",
                    "created_at": now,
                    "updated_at": now,
                }
                for n in names
            ]
            await session.execute(insert(table_of(Tag)), children)
            tag_ids += [c["id"] for c in children]
        product_rows: list[dict[str, Any]] = []
        usage_rows: list[dict[str, Any]] = []
        tag_rows: list[dict[str, Any]] = []
        member_rows: list[dict[str, Any]] = []
        for i in range(products):
            pid = new_id()
            team = rng.choice(TEAMS)
            subject = rng.choice(SUBJECTS)
            updated = now - timedelta(days=rng.uniform(0, 720))
            product_rows.append(
                {
                    "id": pid,
                    "name": f"{rng.choice(QUALIFIERS)} {subject} {rng.choice(NOUNS)} {i}",
                    "description": f"{subject} data for the {team} team, "
                    f"{rng.choice(QUALIFIERS).lower()} and documented.",
                    "team": team,
                    "category": rng.choice(CATEGORIES),
                    "owner": f"{team}-lead",
                    "status": rng.choice(
                        ["published", "published", "published", "draft", "deprecated"]
                    ),
                    "visibility": "public",
                    "metadata": {},
                    "revision": 1,
                    "created_at": updated,
                    "updated_at": updated,
                }
            )
            views = int(rng.paretovariate(1.2)) * 3
            usage_rows.append(
                {
                    "product_id": pid,
                    "view_count": views,
                    "unique_viewers": views // 3,
                    "access_requests": 0,
                    "approved_access": rng.randint(0, 3),
                    "rejected_access": 0,
                    "rating_count": rng.randint(0, 5),
                    "rating_sum": 0,
                    "updated_at": now,
                }
            )
            usage_rows[-1]["rating_sum"] = usage_rows[-1]["rating_count"] * rng.randint(2, 5)
            tag_rows += [
                {
                    "product_id": pid,
                    "tag_id": t,
                    "confidence": 1.0,
                    "source": "auto",
                    "created_at": now,
                }
                for t in rng.sample(tag_ids, rng.randint(1, 4))
            ]
            # Products hold mostly elements of their own subject (a customer product has
            # customer_* elements), and a few from elsewhere, as real catalogs do.
            members = rng.sample(by_subject[subject], rng.randint(2, 5))
            members += rng.sample(element_rows, rng.randint(0, 2))
            member_rows += [
                {"product_id": pid, "data_element_id": e["id"], "created_at": now}
                for e in {m["id"]: m for m in members}.values()
            ]
        for table, rows in (
            (DataProduct, product_rows),
            (ProductUsageStats, usage_rows),
            (ProductTag, tag_rows),
            (ProductElement, member_rows),
        ):
            for batch in chunks(rows):
                await session.execute(insert(table_of(table)), batch)
    print(f"rows written in {time.perf_counter() - started:.1f}s", flush=True)
    await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("database_url")
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--elements", type=int, default=20_000)
    args = parser.parse_args()
    asyncio.run(generate(args.database_url, args.products, args.elements))


if __name__ == "__main__":
    main()
