"""Names of catalog nodes, as the change log records them and the projections read them, and
the table each kind of node is a row of (the recorder names a row's node by it, the graph
reads nodes from it: one map, so the two cannot disagree)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

from catalog.db.models import (
    DataElement,
    DataElementConcept,
    DataProduct,
    DataProductVersion,
    ProductSchemaColumn,
    Tag,
    ValueDomain,
)

Label = Literal[
    "DataElement",
    "DataElementConcept",
    "ValueDomain",
    "DataProduct",
    "DataProductVersion",
    "Tag",
    "SchemaColumn",
]
LABELS: tuple[Label, ...] = get_args(Label)

# The table each kind of node is a row of.
NODE_MODELS: dict[Label, Any] = {
    "DataElement": DataElement,
    "DataElementConcept": DataElementConcept,
    "ValueDomain": ValueDomain,
    "DataProduct": DataProduct,
    "DataProductVersion": DataProductVersion,
    "Tag": Tag,
    "SchemaColumn": ProductSchemaColumn,  # a column of a product's current dataset schema
}

# The lineage API names node kinds "product" / "element" (lineage_edges.upstream_type).
LINEAGE_LABELS: dict[str, Label] = {"product": "DataProduct", "element": "DataElement"}


@dataclass(frozen=True, order=True)
class NodeRef:
    label: Label
    id: str

    def __str__(self) -> str:
        return f"{self.label}:{self.id}"
