"""A batch of index changes: the documents to replace, built from catalog rows, then applied.

Every document is replaced whole (delete by id, then add the current version), so applying a
batch twice leaves the index as applying it once; together with the index state (the `meta`
document holding the change-log position) it is committed in one Tantivy commit, so a writer
killed mid-batch leaves the previous commit intact and the next writer redoes the batch.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import tantivy

from catalog.search.documents import ProductSource, TagNode, name_document, product_document
from catalog.search.index import IndexState
from catalog.search.ranking import Weights


@dataclass
class Batch:
    products: dict[str, ProductSource | None] = field(default_factory=dict)  # None: deleted
    tags: dict[str, TagNode | None] = field(default_factory=dict)
    elements: dict[str, str | None] = field(default_factory=dict)  # id -> name
    forest: dict[str, TagNode] = field(default_factory=dict)
    weights: Weights | None = None  # needed with products

    def __len__(self) -> int:
        return len(self.products) + len(self.tags) + len(self.elements)


def meta_document(state: IndexState) -> tantivy.Document:
    return tantivy.Document(kind="meta", key="meta", doc=state.to_json())


def apply(
    writer: tantivy.IndexWriter, batch: Batch, state: IndexState | None, *, replace: bool
) -> None:
    """Add the batch's documents (replacing older versions when `replace`) and, when given, the
    new state; the caller commits."""
    now_s = time.time()
    for product_id, source in batch.products.items():
        if replace:
            writer.delete_documents_by_term("key", product_id)
        if source is not None:
            assert batch.weights is not None
            writer.add_document(product_document(source, batch.forest, batch.weights, now_s))
    for tag_id, tag in batch.tags.items():
        if replace:
            writer.delete_documents_by_term("key", tag_id)
        if tag is not None:
            writer.add_document(name_document("tag", tag.id, tag.name))
    for element_id, name in batch.elements.items():
        if replace:
            writer.delete_documents_by_term("key", element_id)
        if name is not None:
            writer.add_document(name_document("element", element_id, name))
    if state is not None:
        writer.delete_documents_by_term("key", "meta")
        writer.add_document(meta_document(state))
