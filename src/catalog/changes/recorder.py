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

Schema columns are nodes too (`SchemaColumn`), but column lineage names its ends by product
id and column NAME, not by row. So a column lineage row names its downstream column by
(product id, name) (`touch_columns()`, for Core inserts, or its ORM row), resolved to a node
id just before the commit; a schema column that appears (or is renamed) names the columns
deriving from its name, whose DERIVED_FROM edges now reach it. A product deleted takes its
versions and schema columns with it by ON DELETE CASCADE, which no event sees: they are named
before the flush deletes them. (Two transactions racing, one adding a lineage row and the other
its column, may each miss the other's row: the next change of either column, or `catalog graph
rebuild`, converges.)
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session, UOWTransaction

from catalog.changes.events import take_pending
from catalog.changes.refs import LINEAGE_LABELS, NODE_MODELS, NodeRef
from catalog.changes.repository import (
    append,
    append_events,
    columns_deriving_from,
    columns_named,
    elements_using,
    lock_appends,
    parts_of_products,
)
from catalog.db.models import (
    ColumnLineageEdge,
    DataProduct,
    DataProductVersion,
    LineageEdge,
    ProductElement,
    ProductSchemaColumn,
    ProductTag,
    Representation,
)

TOUCHED = "changes_touched"
REPRESENTATIONS = "changes_representations"  # their elements' USES_REPRESENTATION changed
APPENDED = "changes_appended"  # appended changes or events: wake the consumers after commit
COLUMNS = "changes_columns"  # (product id, column name) of SchemaColumn nodes to name
DERIVING = "changes_deriving"  # (product id, column name): name the columns deriving from it

ColumnKey = tuple[str, str]  # (product id, column name), as column lineage names a column


def touch(session: Session | Any, *refs: NodeRef) -> None:
    """Name nodes a statement changed where the events cannot see it."""
    touched: set[NodeRef] = session.info.setdefault(TOUCHED, set())
    touched.update(refs)


def touch_columns(session: Session | Any, *columns: ColumnKey) -> None:
    """Name the SchemaColumn nodes of these (product id, column name) pairs, where a statement
    the events cannot see changed them (a column lineage row names its downstream column).
    Resolved to node ids just before the commit; a name no schema has names nothing."""
    keys: set[ColumnKey] = session.info.setdefault(COLUMNS, set())
    keys.update(columns)


def _owners(obj: object) -> tuple[NodeRef, ...]:
    """The nodes whose state (properties or outgoing relationships) this row is part of."""
    if isinstance(obj, DataProductVersion):  # a node, and its product's HAS_VERSION
        return (
            NodeRef("DataProductVersion", obj.id),
            NodeRef("DataProduct", obj.product_id),
        )
    if isinstance(obj, ProductSchemaColumn):  # a node, and its product's HAS_COLUMN
        return (
            NodeRef("SchemaColumn", obj.id),
            NodeRef("DataProduct", obj.product_id),
        )
    for label, model in NODE_MODELS.items():
        if isinstance(obj, model):
            return (NodeRef(label, obj.id),)
    if isinstance(obj, ProductTag | ProductElement):
        return (NodeRef("DataProduct", obj.product_id),)
    if isinstance(obj, LineageEdge):
        return (NodeRef(LINEAGE_LABELS[obj.downstream_type], obj.downstream_id),)
    return ()


def _column_names(obj: ProductSchemaColumn, new: bool) -> set[ColumnKey]:
    """The (product id, name) keys under which column lineage may reach this column anew: a
    new column's, a renamed one's old and new names (none for other changes)."""
    if new:
        return {(obj.product_id, obj.name)}
    history = inspect(obj).attrs.name.history
    if not history.has_changes():
        return set()
    return {(obj.product_id, name) for name in (*history.added, *history.deleted) if name}


@event.listens_for(Session, "before_flush")
def _deleting(session: Session, _flush: UOWTransaction, _instances: object) -> None:
    """A deleted product's versions and schema columns go by ON DELETE CASCADE, which no
    event sees: name them while their rows are still there."""
    products = [obj.id for obj in session.deleted if isinstance(obj, DataProduct)]
    if products:
        with session.no_autoflush:
            touch(session, *parts_of_products(session, products))


@event.listens_for(Session, "after_flush")
def _flushed(session: Session, _flush: UOWTransaction) -> None:
    new, dirty, deleted = list(session.new), list(session.dirty), list(session.deleted)
    added = set(new)
    for obj in (*new, *dirty, *deleted):
        if isinstance(obj, Representation):
            session.info.setdefault(REPRESENTATIONS, set()).add(obj.id)
        elif isinstance(obj, ColumnLineageEdge):
            touch_columns(session, (obj.downstream_product_id, obj.downstream_column))
        elif isinstance(obj, ProductSchemaColumn):
            deriving: set[ColumnKey] = session.info.setdefault(DERIVING, set())
            deriving.update(_column_names(obj, obj in added))
        touch(session, *_owners(obj))


@event.listens_for(Session, "before_commit")
def _append(session: Session) -> None:
    # Runs inside the AsyncSession's greenlet, so plain (sync) statements work here.
    representations = session.info.pop(REPRESENTATIONS, set())
    if representations:
        using = elements_using(session, representations)
        touch(session, *(NodeRef("DataElement", i) for i in using))
    columns = session.info.pop(COLUMNS, set())
    if columns:
        touch(session, *(NodeRef("SchemaColumn", i) for i in columns_named(session, columns)))
    deriving = session.info.pop(DERIVING, set())
    if deriving:
        found = columns_deriving_from(session, deriving)
        touch(session, *(NodeRef("SchemaColumn", i) for i in found))
    touched: set[NodeRef] = session.info.pop(TOUCHED, set())
    events = take_pending(session)  # catalog events for notifications (events.py)
    if not (touched or events):
        return
    lock_appends(session)
    if touched:
        append(session, sorted(touched))
    if events:
        append_events(session, events)
    session.info[APPENDED] = True


def take_appended(session: Session | Any) -> bool:
    """Whether the transaction just committed appended change rows (and forget it)."""
    return bool(session.info.pop(APPENDED, False))
