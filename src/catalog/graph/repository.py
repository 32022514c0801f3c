"""The SQL the graph's API layer needs from the catalog itself: whether a node exists (and
its name), which kinds of node an id names, and who may see products and versions. (The
projection's reads are in snapshot.py, the `sql` store's in sql_store.py.)"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import String, literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.db.models import DataProduct, DataProductVersion
from catalog.graph.model import Label, NodeRef
from catalog.graph.snapshot import MODELS, NAME_COLUMNS

# (id, visibility, team) of a product, or of the product a version belongs to
Visibility = tuple[str, str, str | None]


class GraphRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def node_name(self, ref: NodeRef) -> tuple[bool, str | None]:
        """(whether the catalog has the node, its display name: a version's is its number)."""
        model = MODELS[ref.label]
        name = getattr(model, NAME_COLUMNS[ref.label])
        row = (await self.session.execute(select(name).where(model.id == ref.id))).first()
        return (row is not None, row[0] if row is not None else None)

    async def labels_of(self, node_id: str) -> list[Label]:
        """The kinds of node the catalog has under `node_id`, in one query. Ids are unique per
        table, not across tables, so more than one kind is possible (if unlikely)."""
        query = union_all(
            *(
                select(literal(label, String).label("label")).where(model.id == node_id)
                for label, model in MODELS.items()
            )
        )
        return [row.label for row in await self.session.execute(query)]

    async def product_visibility(self, ids: Sequence[str]) -> list[Visibility]:
        rows = await self.session.execute(
            select(DataProduct.id, DataProduct.visibility, DataProduct.team).where(
                DataProduct.id.in_(ids)
            )
        )
        return [(row.id, row.visibility, row.team) for row in rows]

    async def version_visibility(self, ids: Sequence[str]) -> list[Visibility]:
        rows = await self.session.execute(
            select(DataProductVersion.id, DataProduct.visibility, DataProduct.team)
            .join(DataProduct, DataProduct.id == DataProductVersion.product_id)
            .where(DataProductVersion.id.in_(ids))
        )
        return [(row.id, row.visibility, row.team) for row in rows]
