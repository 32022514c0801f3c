"""Recording changes: every write names the nodes it changed in `change_log`, in its own
transaction.

Session events see the writes (like the cache's, cache/invalidation.py): a flushed
ORM object names its node, or the node owning the relationship it is (a product tag names its
product: the tag list is the product's). Statements the events cannot see (bulk inserts, core
INSERT/DELETE/UPDATE) name their nodes with `touch()`. Just before the commit the names become
log rows, in the same transaction, so a committed write is never missing from the log and a
rolled-back one never appears. (Naming too much only costs a needless projection; a savepoint
rolled back inside a committed transaction keeps its names.)

Commit order: a consumer remembers the last id it applied, so ids must become visible in id
order. On PostgreSQL two transactions could take ids 7 and 8 and commit 8 first; a consumer
reading then would move past 7 for good. So the append takes a transaction-scoped advisory
lock first: appends (and the commits right after them) queue one behind the other, and an id
is only drawn once every smaller one has committed. The lock is held from the append to the
end of the commit (a millisecond or two); transactions that change no node never take it.
SQLite has a single writer, whose ids are in commit order already. (The statements, lock
included, are repository.py's `append` and `elements_using`.)
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, UOWTransaction

from catalog.changes.refs import LINEAGE_LABELS, NODE_MODELS, NodeRef
from catalog.changes.repository import append, elements_using
from catalog.db.models import (
    DataProductVersion,
    LineageEdge,
    ProductElement,
    ProductSchemaColumn,
    ProductTag,
    Representation,
)

TOUCHED = "changes_touched"
REPRESENTATIONS = "changes_representations"  # their elements' USES_REPRESENTATION changed
APPENDED = "changes_appended"  # this transaction appended rows: wake the consumers after commit


def touch(session: Session | Any, *refs: NodeRef) -> None:
    """Name nodes a statement changed where the events cannot see it."""
    touched: set[NodeRef] = session.info.setdefault(TOUCHED, set())
    touched.update(refs)


def _owners(obj: object) -> tuple[NodeRef, ...]:
    """The nodes whose state (properties or outgoing relationships) this row is part of."""
    if isinstance(obj, DataProductVersion):  # a node, and its product's HAS_VERSION
        return (
            NodeRef("DataProductVersion", obj.id),
            NodeRef("DataProduct", obj.product_id),
        )
    for label, model in NODE_MODELS.items():
        if isinstance(obj, model):
            return (NodeRef(label, obj.id),)
    if isinstance(obj, ProductTag | ProductElement | ProductSchemaColumn):
        return (NodeRef("DataProduct", obj.product_id),)
    if isinstance(obj, LineageEdge):
        return (NodeRef(LINEAGE_LABELS[obj.downstream_type], obj.downstream_id),)
    return ()


@event.listens_for(Session, "after_flush")
def _flushed(session: Session, _flush: UOWTransaction) -> None:
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, Representation):
            session.info.setdefault(REPRESENTATIONS, set()).add(obj.id)
        touch(session, *_owners(obj))


@event.listens_for(Session, "before_commit")
def _append(session: Session) -> None:
    # Runs inside the AsyncSession's greenlet, so plain (sync) statements work here.
    representations = session.info.pop(REPRESENTATIONS, set())
    if representations:
        using = elements_using(session, representations)
        touch(session, *(NodeRef("DataElement", i) for i in using))
    touched: set[NodeRef] = session.info.pop(TOUCHED, set())
    if not touched:
        return
    append(session, sorted(touched))
    session.info[APPENDED] = True


def take_appended(session: Session | Any) -> bool:
    """Whether the transaction just committed appended change rows (and forget it)."""
    return bool(session.info.pop(APPENDED, False))
