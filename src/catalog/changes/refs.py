"""Names of catalog nodes, as the change log records them and the projections read them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

Label = Literal[
    "DataElement",
    "DataElementConcept",
    "ValueDomain",
    "DataProduct",
    "DataProductVersion",
    "Tag",
]
LABELS: tuple[Label, ...] = get_args(Label)

# The lineage API names node kinds "product" / "element" (lineage_edges.upstream_type).
LINEAGE_LABELS: dict[str, Label] = {"product": "DataProduct", "element": "DataElement"}


@dataclass(frozen=True, order=True)
class NodeRef:
    label: Label
    id: str

    def __str__(self) -> str:
        return f"{self.label}:{self.id}"
