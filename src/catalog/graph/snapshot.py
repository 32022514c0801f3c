"""What the graph must hold for given nodes, read from the catalog tables (the source of truth).

The projection is state-based: the outbox names nodes that changed, and the worker reads each
one's current row and outgoing relationships here and makes the graph hold exactly that. So a
replay, a duplicate outbox row or a rebuild can only converge on the same graph, and no change
has to be described twice (once in SQL, once as a graph delta). The rows come from
repository.py's `SnapshotRepository`; this module turns them into node states.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from catalog.graph.model import (
    LINEAGE_KINDS,
    LINEAGE_LABELS,
    Edge,
    Label,
    NodeRef,
    NodeState,
    RelType,
    column_lineage_props,
    lineage_props,
)
from catalog.graph.repository import SnapshotRepository

# The columns each node carries into the graph (besides `id`).
PROPERTIES: dict[Label, tuple[str, ...]] = {
    "DataElement": ("identifier", "name", "registration_status", "steward"),
    "DataElementConcept": ("name", "object_class", "property"),
    "ValueDomain": ("name", "type", "data_type"),
    "DataProduct": ("name", "team", "category", "status", "visibility", "owner"),
    "DataProductVersion": ("version", "product_id"),
    "Tag": ("name", "category"),
    "SchemaColumn": ("name", "physical_type", "product_id"),
}


def millis(moment: datetime | None) -> int | None:
    """Timestamps travel as epoch milliseconds: every graph database indexes integers."""
    return None if moment is None else int(moment.timestamp() * 1000)


async def read_states(session: AsyncSession, refs: Iterable[NodeRef]) -> list[NodeState]:
    repository = SnapshotRepository(session)
    by_label: dict[Label, set[str]] = defaultdict(set)
    for ref in refs:
        by_label[ref.label].add(ref.id)
    states: list[NodeState] = []
    for label, ids in by_label.items():
        rows = {row.id: row for row in await repository.nodes(label, ids)}
        edges = await _edges(repository, label, sorted(rows))
        for node_id in sorted(ids):
            row = rows.get(node_id)
            ref = NodeRef(label, node_id)
            if row is None:
                states.append(NodeState(ref, None))
            else:
                states.append(NodeState(ref, _props(label, row), tuple(edges.get(ref, ()))))
    return states


async def all_ids(session: AsyncSession, label: Label, after: str, limit: int) -> list[str]:
    """Ids of `label` in id order after `after` (a rebuild pages through every node)."""
    return await SnapshotRepository(session).ids_after(label, after, limit)


def _props(label: Label, row: Any) -> dict[str, Any]:
    props: dict[str, Any] = {"id": row.id}
    for column in PROPERTIES[label]:
        props[column] = getattr(row, column)
    if label == "DataProductVersion":
        props["timestamp"] = millis(row.created_at)
        props["deprecated"] = row.deprecated_at is not None
    return props


async def _edges(
    repository: SnapshotRepository, label: Label, ids: list[str]
) -> dict[NodeRef, list[Edge]]:
    found: dict[NodeRef, list[Edge]] = defaultdict(list)
    if not ids:
        return found
    readers = {
        "DataProduct": (_product_edges, _lineage_edges),
        "DataElement": (_element_edges, _lineage_edges),
        "Tag": (_tag_edges,),
        "SchemaColumn": (_column_lineage_edges,),
    }
    for reader in readers.get(label, ()):
        for edge in await reader(repository, label, ids):
            found[edge.source].append(edge)
    for edges in found.values():
        edges.sort(key=lambda e: (e.type, e.target))
    return found


async def _product_edges(
    repository: SnapshotRepository, _label: Label, ids: list[str]
) -> list[Edge]:
    """HAS_TAG, HAS_VERSION, CONTAINS and HAS_COLUMN: one table each, each row a different
    edge."""
    edges: list[Edge] = []
    for tag in await repository.product_tags(ids):
        edges.append(
            _edge(
                "HAS_TAG",
                NodeRef("DataProduct", tag.product_id),
                NodeRef("Tag", tag.tag_id),
                timestamp=millis(tag.created_at),
                confidence=tag.confidence,
                source=tag.source,
            )
        )
    for version in await repository.product_versions(ids):
        edges.append(
            _edge(
                "HAS_VERSION",
                NodeRef("DataProduct", version.product_id),
                NodeRef("DataProductVersion", version.id),
                timestamp=millis(version.created_at),
            )
        )
    for member in await repository.product_members(ids):
        edges.append(
            _edge(
                "CONTAINS",
                NodeRef("DataProduct", member.product_id),
                NodeRef("DataElement", member.data_element_id),
                role=member.role,
            )
        )
    for column in await repository.product_columns(ids):
        edges.append(
            _edge(
                "HAS_COLUMN",
                NodeRef("DataProduct", column.product_id),
                NodeRef("SchemaColumn", column.id),
            )
        )
    return edges


async def _element_edges(
    repository: SnapshotRepository, _label: Label, ids: list[str]
) -> list[Edge]:
    edges: list[Edge] = []
    for row in await repository.element_references(ids):
        element = NodeRef("DataElement", row.id)
        if row.data_element_concept_id is not None:
            concept = NodeRef("DataElementConcept", row.data_element_concept_id)
            edges.append(_edge("USES_CONCEPT", element, concept))
        if row.value_domain_id is not None:
            domain = NodeRef("ValueDomain", row.value_domain_id)
            edges.append(
                _edge(
                    "USES_REPRESENTATION",
                    element,
                    domain,
                    representation_id=row.representation_id,
                    name=row.representation_name,
                )
            )
    return edges


async def _tag_edges(repository: SnapshotRepository, _label: Label, ids: list[str]) -> list[Edge]:
    rows = await repository.tag_parents(ids)
    return [_edge("CHILD_OF", NodeRef("Tag", r.id), NodeRef("Tag", r.parent_tag_id)) for r in rows]


async def _lineage_edges(
    repository: SnapshotRepository, label: Label, ids: list[str]
) -> list[Edge]:
    return [
        _edge(
            "DERIVED_FROM",
            NodeRef(label, edge.downstream_id),
            NodeRef(LINEAGE_LABELS[edge.upstream_type], edge.upstream_id),
            **lineage_props(edge),
        )
        for edge in await repository.lineage_of(LINEAGE_KINDS[label], ids)
    ]


async def _column_lineage_edges(
    repository: SnapshotRepository, _label: Label, ids: list[str]
) -> list[Edge]:
    """A schema column derives from the columns its column lineage rows name, those that are
    columns of their product's current schema (an end without one has no node)."""
    return [
        _edge(
            "DERIVED_FROM",
            NodeRef("SchemaColumn", row.downstream_id),
            NodeRef("SchemaColumn", row.upstream_id),
            **column_lineage_props(row.ColumnLineageEdge),
        )
        for row in await repository.column_lineage_of(ids)
    ]


def _edge(kind: RelType, start: NodeRef, end: NodeRef, /, **props: Any) -> Edge:
    return Edge(kind, start, end, props)
