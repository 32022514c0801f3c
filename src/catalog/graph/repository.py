"""The SQL the graph needs from the catalog itself (the source of truth).

`GraphRepository` serves the graph's API layer: whether a node exists (and its name), which
kinds of node an id names, and who may see products and versions. `SnapshotRepository` serves
the projection (snapshot.py): the rows of given nodes and of their outgoing relationships, and
every id of a label page by page for a rebuild. (The `sql` store's own queries are in
sql_store.py: they are that store's implementation.)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import String, and_, literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from catalog.changes.refs import NODE_MODELS
from catalog.db.models import (
    ColumnLineageEdge,
    DataElement,
    DataProduct,
    DataProductVersion,
    LineageEdge,
    ProductElement,
    ProductSchemaColumn,
    ProductTag,
    Representation,
    Tag,
)
from catalog.graph.model import Label, NodeRef

# The column naming each kind of node in answers (versions have no name of their own).
NAME_COLUMNS: dict[Label, str] = dict.fromkeys(NODE_MODELS, "name") | {
    "DataProductVersion": "version"
}

# (id, visibility, team) of a product, or of the product a version or column belongs to
Visibility = tuple[str, str, str | None]


class GraphRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def node_name(self, ref: NodeRef) -> tuple[bool, str | None]:
        """(whether the catalog has the node, its display name: a version's is its number)."""
        model = NODE_MODELS[ref.label]
        name = getattr(model, NAME_COLUMNS[ref.label])
        row = (await self.session.execute(select(name).where(model.id == ref.id))).first()
        return (row is not None, row[0] if row is not None else None)

    async def labels_of(self, node_id: str) -> list[Label]:
        """The kinds of node the catalog has under `node_id`, in one query. Ids are unique per
        table, not across tables, so more than one kind is possible (if unlikely)."""
        query = union_all(
            *(
                select(literal(label, String).label("label")).where(model.id == node_id)
                for label, model in NODE_MODELS.items()
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

    async def column_visibility(self, ids: Sequence[str]) -> list[Visibility]:
        rows = await self.session.execute(
            select(ProductSchemaColumn.id, DataProduct.visibility, DataProduct.team)
            .join(DataProduct, DataProduct.id == ProductSchemaColumn.product_id)
            .where(ProductSchemaColumn.id.in_(ids))
        )
        return [(row.id, row.visibility, row.team) for row in rows]


class SnapshotRepository:
    """Whole rows, read as they are now: snapshot.py turns them into node states."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def nodes(self, label: Label, ids: set[str]) -> Sequence[Any]:
        model = NODE_MODELS[label]
        return (await self.session.scalars(select(model).where(model.id.in_(ids)))).all()

    async def ids_after(self, label: Label, after: str, limit: int) -> list[str]:
        """Ids of `label` in id order after `after`."""
        model = NODE_MODELS[label]
        query = select(model.id).where(model.id > after).order_by(model.id).limit(limit)
        return list((await self.session.scalars(query)).all())

    async def product_tags(self, product_ids: list[str]) -> Sequence[ProductTag]:
        query = select(ProductTag).where(ProductTag.product_id.in_(product_ids))
        return (await self.session.scalars(query)).all()

    async def product_versions(self, product_ids: list[str]) -> Sequence[DataProductVersion]:
        query = select(DataProductVersion).where(DataProductVersion.product_id.in_(product_ids))
        return (await self.session.scalars(query)).all()

    async def product_members(self, product_ids: list[str]) -> Sequence[ProductElement]:
        query = select(ProductElement).where(ProductElement.product_id.in_(product_ids))
        return (await self.session.scalars(query)).all()

    async def product_columns(self, product_ids: list[str]) -> Sequence[Any]:
        """(id, product_id) of these products' schema columns."""
        rows = await self.session.execute(
            select(ProductSchemaColumn.id, ProductSchemaColumn.product_id).where(
                ProductSchemaColumn.product_id.in_(product_ids)
            )
        )
        return rows.all()

    async def column_lineage_of(self, column_ids: list[str]) -> Sequence[Any]:
        """Per column lineage row into these schema columns whose upstream column exists too:
        (downstream_id, upstream_id, edge). Rows name columns by product id and name, so both
        ends are joined to the current schemas by (product_id, name)."""
        downstream = aliased(ProductSchemaColumn)
        upstream = aliased(ProductSchemaColumn)
        rows = await self.session.execute(
            select(
                downstream.id.label("downstream_id"),
                upstream.id.label("upstream_id"),
                ColumnLineageEdge,
            )
            .join(
                ColumnLineageEdge,
                and_(
                    ColumnLineageEdge.downstream_product_id == downstream.product_id,
                    ColumnLineageEdge.downstream_column == downstream.name,
                ),
            )
            .join(
                upstream,
                and_(
                    upstream.product_id == ColumnLineageEdge.upstream_product_id,
                    upstream.name == ColumnLineageEdge.upstream_column,
                ),
            )
            .where(downstream.id.in_(column_ids))
        )
        return rows.all()

    async def element_references(self, element_ids: list[str]) -> Sequence[Any]:
        """Per element: its concept and its representation (id, name, value domain)."""
        rows = await self.session.execute(
            select(
                DataElement.id,
                DataElement.data_element_concept_id,
                Representation.id.label("representation_id"),
                Representation.name.label("representation_name"),
                Representation.value_domain_id,
            )
            .outerjoin(Representation, Representation.id == DataElement.representation_id)
            .where(DataElement.id.in_(element_ids))
        )
        return rows.all()

    async def tag_parents(self, tag_ids: list[str]) -> Sequence[Any]:
        """(id, parent_tag_id) of the tags that have a parent."""
        rows = await self.session.execute(
            select(Tag.id, Tag.parent_tag_id).where(
                Tag.id.in_(tag_ids), Tag.parent_tag_id.is_not(None)
            )
        )
        return rows.all()

    async def lineage_of(self, kind: str, downstream_ids: list[str]) -> Sequence[LineageEdge]:
        """The lineage rows in which these nodes (of lineage kind `kind`) are downstream."""
        query = select(LineageEdge).where(
            LineageEdge.downstream_type == kind, LineageEdge.downstream_id.in_(downstream_ids)
        )
        return (await self.session.scalars(query)).all()
