"""What one round of the applier knows the catalog holds, read for all its events at once.

Most OpenLineage events restate what the catalog already holds (a job's every run names the
same datasets, schema and column lineage). Reading, per round, the products of every dataset
the round's events name, their current schemas, the product edges between them and the column
edges into them (four queries, whatever the round's size) lets such an event be recognised as
settled without a query of its own; only an event that says something new is applied (and
what it wrote is added here, for the events after it).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from catalog.db.models import DataProduct
from catalog.kit.spec_diff import same_json
from catalog.products import schemas
from catalog.products.dataset_schema import bound_column
from catalog.products.repository import (
    ColumnLineageRepository,
    LineageRepository,
    ProductRepository,
    SchemaColumnRepository,
)
from catalog.products.service import column_dict

Ends = tuple[str, str, str, str]  # upstream product, column, downstream product, column


@dataclass
class Known:
    products: dict[str, DataProduct] = field(default_factory=dict)  # by source_ref
    columns: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # by product id
    pairs: set[tuple[str, str]] = field(default_factory=set)  # product edges
    column_ends: set[Ends] = field(default_factory=set)

    @classmethod
    async def read(cls, session: AsyncSession, refs: Iterable[str]) -> Known:
        products = {
            p.source_ref or "": p for p in await ProductRepository(session).by_source_refs(refs)
        }
        ids = [p.id for p in products.values()]
        current = await SchemaColumnRepository(session).current_of(ids)
        pairs = await LineageRepository(session).among(ids)
        return cls(
            products=products,
            columns={pid: [column_dict(c) for c in cols] for pid, cols in current.items()},
            pairs=pairs,
            column_ends=await ColumnLineageRepository(session).ends_into(ids),
        )

    def forget(self) -> None:
        """After a rolled-back write: what was added may not exist; the next events query."""
        self.products.clear()
        self.columns.clear()
        self.pairs.clear()
        self.column_ends.clear()

    def holds_schema(self, product_id: str, columns: list[schemas.ColumnIn]) -> bool:
        """Whether these columns are the product's current schema already (with the elements
        its columns are bound to: what PUT .../schema would compare)."""
        old = self.columns.get(product_id)
        if not old:
            return False
        bound = {c["name"]: c["data_element_id"] for c in old}
        if any(not bound.get(c.name) for c in columns):
            return False
        return same_json(old, [bound_column(c, bound[c.name]) for c in columns])
