"""The transactional outbox: every write that changes the graph names the changed nodes in
`graph_outbox`, inside the same transaction.

Session events see the writes (like the cache's, platform/cache/invalidation.py): a flushed
ORM object names its node, or the node owning the relationship it is (a product tag names its
product: HAS_TAG is the product's outgoing relationship). Statements the events cannot see
(bulk inserts, core INSERT/DELETE of product tags) name their nodes with `touch()`. Just before
the commit the names become outbox rows, in the same transaction, so a committed write is
never missing from the outbox and a rolled-back one never appears. (Naming too much only costs
a needless projection; a savepoint rolled back inside a committed transaction keeps its names.)

Only sessions made by a factory with `info={OUTBOX: True}` write rows: with the `sql` store
(the default) nothing is projected and nothing is appended.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, insert, select
from sqlalchemy.orm import Session, UOWTransaction

from catalog.db.models import (
    DataElement,
    DataElementConcept,
    DataProduct,
    DataProductVersion,
    GraphOutbox,
    LineageEdge,
    ProductElement,
    ProductTag,
    Representation,
    Tag,
    ValueDomain,
)
from catalog.graph.model import LINEAGE_LABELS, NodeRef

OUTBOX = "graph_outbox"  # session.info flag: this session feeds a projected graph store
TOUCHED = "graph_touched"
REPRESENTATIONS = "graph_representations"  # their elements' USES_REPRESENTATION changed
APPENDED = "graph_appended"  # this transaction wrote outbox rows: wake the worker after commit


def touch(session: Session | Any, *refs: NodeRef) -> None:
    """Name nodes whose projection a statement changed where the events cannot see it."""
    if not session.info.get(OUTBOX):
        return
    touched: set[NodeRef] = session.info.setdefault(TOUCHED, set())
    touched.update(refs)


def _owners(obj: object) -> tuple[NodeRef, ...]:
    """The nodes whose state (properties or outgoing relationships) this row is part of."""
    if isinstance(obj, DataProduct):
        return (NodeRef("DataProduct", obj.id),)
    if isinstance(obj, DataElement):
        return (NodeRef("DataElement", obj.id),)
    if isinstance(obj, DataElementConcept):
        return (NodeRef("DataElementConcept", obj.id),)
    if isinstance(obj, ValueDomain):
        return (NodeRef("ValueDomain", obj.id),)
    if isinstance(obj, Tag):
        return (NodeRef("Tag", obj.id),)
    if isinstance(obj, DataProductVersion):
        return (
            NodeRef("DataProductVersion", obj.id),
            NodeRef("DataProduct", obj.product_id),
        )
    if isinstance(obj, ProductTag | ProductElement):
        return (NodeRef("DataProduct", obj.product_id),)
    if isinstance(obj, LineageEdge):
        return (NodeRef(LINEAGE_LABELS[obj.downstream_type], obj.downstream_id),)
    return ()


@event.listens_for(Session, "after_flush")
def _flushed(session: Session, _flush: UOWTransaction) -> None:
    if not session.info.get(OUTBOX):
        return
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, Representation):
            session.info.setdefault(REPRESENTATIONS, set()).add(obj.id)
        touch(session, *_owners(obj))


@event.listens_for(Session, "before_commit")
def _append(session: Session) -> None:
    # Runs inside the AsyncSession's greenlet, so plain (sync) statements work here.
    if not session.info.get(OUTBOX):
        return
    representations = session.info.pop(REPRESENTATIONS, set())
    if representations:
        using = select(DataElement.id).where(DataElement.representation_id.in_(representations))
        touch(session, *(NodeRef("DataElement", i) for i in session.scalars(using)))
    touched: set[NodeRef] = session.info.pop(TOUCHED, set())
    if touched:
        rows = [{"label": ref.label, "node_id": ref.id} for ref in sorted(touched)]
        session.execute(insert(GraphOutbox), rows)
        session.info[APPENDED] = True


def take_appended(session: Session | Any) -> bool:
    """Whether the transaction just committed appended outbox rows (and forget it)."""
    return bool(session.info.pop(APPENDED, False))
