"""The graph's vocabulary: node labels, relationship types, and the shapes stores exchange.

Labels and relationship types are closed sets (Cypher cannot take them as parameters, so the
Cypher adapters interpolate them; only these names ever reach a query). Everything else a
query needs (ids, names, properties) travels as a parameter.

Relationships point from the node that owns them (whose row holds the reference) to the node
they name, so a node's outgoing relationships are rebuilt from that node's own rows:

    (DataProduct)-[:HAS_TAG {timestamp, confidence, source}]->(Tag)
    (DataProduct)-[:HAS_VERSION {timestamp}]->(DataProductVersion)
    (DataProduct)-[:CONTAINS]->(DataElement)
    (DataElement)-[:USES_CONCEPT]->(DataElementConcept)
    (DataElement)-[:USES_REPRESENTATION {representation_id, name}]->(ValueDomain)
    (DataProduct|DataElement)-[:DERIVED_FROM {relationship}]->(DataProduct|DataElement)
        lineage: the downstream node is derived from the upstream one
    (Tag)-[:CHILD_OF]->(Tag)
    (DataProduct)-[:HAS_COLUMN]->(SchemaColumn)
        a column of the product's current dataset schema (product_schema_columns)
    (SchemaColumn)-[:DERIVED_FROM {transformation, job}]->(SchemaColumn)
        column lineage (column_lineage_edges), which names its ends by product id and column
        name: an edge whose either end is no column of its product's current schema has no
        node to join, so the graph leaves it out (it appears once both columns exist)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from catalog.changes.refs import LABELS, LINEAGE_LABELS, Label, NodeRef
from catalog.db.models import ColumnLineageEdge, LineageEdge

__all__ = ["LABELS", "LINEAGE_LABELS", "Label", "NodeRef"]  # the change log's names, shared

RelType = Literal[
    "HAS_TAG",
    "HAS_VERSION",
    "CONTAINS",
    "USES_CONCEPT",
    "USES_REPRESENTATION",
    "DERIVED_FROM",
    "CHILD_OF",
    "HAS_COLUMN",
]
# The same names as values (for membership checks and loops).
REL_TYPES: tuple[RelType, ...] = get_args(RelType)
Direction = Literal["out", "in", "both"]
LineageDirection = Literal["upstream", "downstream", "both"]

LINEAGE_KINDS: dict[str, str] = {label: kind for kind, label in LINEAGE_LABELS.items()}


@dataclass(frozen=True)
class Edge:
    type: RelType
    source: NodeRef
    target: NodeRef
    props: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class NodeState:
    """What the graph must hold for one node: its properties and outgoing relationships, or,
    when `props` is None, nothing (the node was deleted)."""

    ref: NodeRef
    props: dict[str, Any] | None
    edges: tuple[Edge, ...] = ()


@dataclass(frozen=True)
class FoundNode:
    ref: NodeRef
    name: str | None
    depth: int
    props: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


@dataclass
class Subgraph:
    """A bounded answer: the nodes reached (with their distance), the edges among them, and
    whether anything was left out (depth or size limits)."""

    nodes: list[FoundNode]
    edges: list[Edge]
    truncated: bool = False


@dataclass
class GraphPath:
    """A shortest path: `nodes[i]` and `nodes[i + 1]` are joined by `edges[i]` (in either
    direction)."""

    nodes: list[FoundNode]
    edges: list[Edge]


def lineage_props(edge: LineageEdge) -> dict[str, Any]:
    """A DERIVED_FROM edge's properties: its relationship, and the job that drew it if any
    (absent rather than null: Cypher stores drop null properties)."""
    props: dict[str, Any] = {"relationship": edge.relationship}
    if edge.job:
        props["job"] = edge.job
    return props


def column_lineage_props(edge: ColumnLineageEdge) -> dict[str, Any]:
    """A column DERIVED_FROM edge's properties: what the job did to the value, and the job
    (absent rather than null, as `lineage_props`)."""
    props: dict[str, Any] = {"transformation": edge.transformation}
    if edge.job:
        props["job"] = edge.job
    return props
