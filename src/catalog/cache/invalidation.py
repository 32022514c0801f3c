"""Which cache scopes a transaction makes stale, collected from the session as it writes.

Nothing has to remember to invalidate: session events watch every write. A flushed ORM
object names its own entity scope (`product:<id>`, `element:<id>`) and its table's scopes;
an INSERT/UPDATE/DELETE statement names its table's scopes. The request's session dependency
retires the collected scopes after the commit (server/deps.py); a session that rolls back is closed
with what it collected, unretired. (Retiring too much costs misses; too little, stale answers:
so a savepoint rollback keeps what the transaction collected so far.)

Listings (search pages, suggestions, the marketplace) are answered by the search index and
cached under the index version they came from (discover/service.py): a write never has to
retire them, a new index version is a new key.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from catalog.db.models import DataElement, DataProduct

STALE = "cache_stale"

TAGS = "tags"
LISTINGS = "listings"  # search pages, suggestions, the marketplace: keyed by index version

# The scopes a change to each table touches (tables not listed are in no cached answer).
TABLE_SCOPES: dict[str, tuple[str, ...]] = {
    "tags": (TAGS,),
    "product_tags": (TAGS,),
}


def product_scope(product_id: str) -> str:
    return f"product:{product_id}"


def element_scope(element_id: str) -> str:
    return f"element:{element_id}"


def mark_stale(session: Session | Any, *scopes: str) -> None:
    """Add scopes by hand, for a statement whose rows the events cannot see."""
    stale: set[str] = session.info.setdefault(STALE, set())
    stale.update(scopes)


def take_stale(session: Session | Any) -> set[str]:
    """The scopes to retire now that the session committed (and forget them)."""
    stale: set[str] = session.info.pop(STALE, set())
    return stale


def _object_scopes(obj: object) -> tuple[str, ...]:
    if isinstance(obj, DataProduct):
        return (product_scope(obj.id),)
    if isinstance(obj, DataElement):
        return (element_scope(obj.id),)
    return ()


@event.listens_for(Session, "after_flush")
def _flushed(session: Session, _flush: UOWTransaction) -> None:
    stale: set[str] = set()
    for obj in (*session.new, *session.dirty, *session.deleted):
        stale.update(_object_scopes(obj))
        stale.update(TABLE_SCOPES.get(getattr(obj, "__tablename__", ""), ()))
    if stale:
        mark_stale(session, *stale)


@event.listens_for(Session, "do_orm_execute")
def _executed(state: ORMExecuteState) -> None:
    if not (state.is_insert or state.is_update or state.is_delete):
        return
    table = getattr(state.statement, "table", None)
    name = getattr(table, "name", "")
    scopes = TABLE_SCOPES.get(name)
    if scopes:
        mark_stale(state.session, *scopes)
