"""All SQL of the change log: appending (recorder.py's before-commit hook), reading after a
position, durable positions, the prune.

The append runs inside a sync `Session` event, so its two functions take the sync session
and run plain statements; everything after it is async (`ChangeLogRepository`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, insert, select, tuple_, update
from sqlalchemy.orm import Session

from catalog.changes.refs import LABELS, Label, NodeRef
from catalog.core.time import utcnow
from catalog.db.models import (
    CatalogEvent,
    ChangeLog,
    ChangeLogPosition,
    ColumnLineageEdge,
    DataElement,
    DataProductVersion,
    ProductSchemaColumn,
)
from catalog.kit.repository import Repository, table_of

PRUNED = "pruned"  # the position row holding the highest id deleted by the prune
APPEND_LOCK = 0x6368616E6765  # "change": serialises appends in commit order (PostgreSQL)
KEY_CHUNK = 2000  # (product id, name) pairs per IN list: 4,000 bound parameters


def elements_using(session: Session, representation_ids: Iterable[str]) -> Iterable[str]:
    """Ids of the data elements whose representation is one of these (their
    USES_REPRESENTATION relationship changed with it)."""
    using = select(DataElement.id).where(DataElement.representation_id.in_(representation_ids))
    return session.scalars(using)


def columns_named(session: Session, keys: Iterable[tuple[str, str]]) -> list[str]:
    """Ids of the schema columns of these (product id, column name) pairs that exist."""
    found: list[str] = []
    for chunk in _chunks(sorted(keys)):
        ends = tuple_(ProductSchemaColumn.product_id, ProductSchemaColumn.name)
        found += session.scalars(select(ProductSchemaColumn.id).where(ends.in_(chunk)))
    return found


def columns_deriving_from(session: Session, keys: Iterable[tuple[str, str]]) -> list[str]:
    """Ids of the schema columns that column lineage derives from one of these (product id,
    column name) pairs (their DERIVED_FROM relationships reach it)."""
    found: list[str] = []
    for chunk in _chunks(sorted(keys)):
        upstream = tuple_(ColumnLineageEdge.upstream_product_id, ColumnLineageEdge.upstream_column)
        query = (
            select(ProductSchemaColumn.id)
            .join(
                ColumnLineageEdge,
                and_(
                    ColumnLineageEdge.downstream_product_id == ProductSchemaColumn.product_id,
                    ColumnLineageEdge.downstream_column == ProductSchemaColumn.name,
                ),
            )
            .where(upstream.in_(chunk))
            .distinct()
        )
        found += session.scalars(query)
    return found


def parts_of_products(session: Session, product_ids: list[str]) -> list[NodeRef]:
    """The version and schema column nodes of these products (deleted with them)."""
    versions = select(DataProductVersion.id).where(DataProductVersion.product_id.in_(product_ids))
    columns = select(ProductSchemaColumn.id).where(ProductSchemaColumn.product_id.in_(product_ids))
    return [NodeRef("DataProductVersion", i) for i in session.scalars(versions)] + [
        NodeRef("SchemaColumn", i) for i in session.scalars(columns)
    ]


def _chunks(keys: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    return [keys[i : i + KEY_CHUNK] for i in range(0, len(keys), KEY_CHUNK)]


def lock_appends(session: Session) -> None:
    """Before appending: on PostgreSQL the transaction-scoped advisory lock, so appends (and
    the commits right after them) queue one behind the other and ids become visible in id
    order (recorder.py's docstring says why a consumer needs that). SQLite's single writer
    commits in id order already."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(APPEND_LOCK)))


def append(session: Session, refs: Iterable[NodeRef]) -> None:
    """One change row per node, in this order, in the session's transaction (after
    `lock_appends`)."""
    rows = [{"label": ref.label, "node_id": ref.id} for ref in refs]
    session.execute(insert(ChangeLog), rows)


def append_events(session: Session, rows: list[dict[str, Any]]) -> None:
    """The transaction's catalog events (events.py), in the order they were made (after
    `lock_appends`: their `seq` is in commit order like the change log's ids)."""
    session.execute(insert(CatalogEvent), rows)


@dataclass(frozen=True)
class Change:
    id: int
    ref: NodeRef
    created_at: datetime


class ChangeLogRepository(Repository[ChangeLog]):
    model = ChangeLog

    async def after(self, position: int, limit: int) -> list[Change]:
        """The oldest `limit` changes with an id above `position`, in id order."""
        rows = await self.session.execute(
            select(ChangeLog.id, ChangeLog.label, ChangeLog.node_id, ChangeLog.created_at)
            .where(ChangeLog.id > position)
            .order_by(ChangeLog.id)
            .limit(limit)
        )
        return [
            Change(row.id, NodeRef(_label(row.label), row.node_id), row.created_at) for row in rows
        ]

    async def latest(self) -> int:
        """The highest id appended so far (0 when the log is empty)."""
        return int(await self.session.scalar(select(func.max(ChangeLog.id))) or 0)

    async def pending(self, position: int) -> tuple[int, datetime | None]:
        """How many changes lie beyond `position`, and when the oldest of them was made."""
        row = (
            await self.session.execute(
                select(func.count(), func.min(ChangeLog.created_at)).where(ChangeLog.id > position)
            )
        ).one()
        return int(row[0] or 0), row[1]

    async def position(self, name: str) -> int | None:
        found = await self.session.scalar(
            select(ChangeLogPosition.position).where(ChangeLogPosition.name == name)
        )
        return None if found is None else int(found)

    async def move(self, name: str, position: int) -> None:
        """Set a durable position; it only ever moves forward (a late writer cannot undo)."""
        now = utcnow()
        statement = self.insert(table_of(ChangeLogPosition)).values(
            name=name, position=position, updated_at=now
        )
        await self.session.execute(statement.on_conflict_do_nothing(index_elements=["name"]))
        await self.session.execute(
            update(ChangeLogPosition)
            .where(ChangeLogPosition.name == name, ChangeLogPosition.position < position)
            .values(position=position, updated_at=now)
        )

    async def horizon(self) -> int:
        """The highest id the prune deleted: a consumer below it missed changes."""
        return await self.position(PRUNED) or 0

    async def prune(self, before: datetime) -> int:
        """Delete changes made before `before`, always keeping the newest row (SQLite numbers
        new rows from the highest id present: an empty table would reuse ids). Returns the
        number deleted; the horizon moves to the highest id deleted."""
        newest = await self.latest()
        doomed = await self.session.scalar(
            select(func.max(ChangeLog.id)).where(
                ChangeLog.created_at < before, ChangeLog.id < newest
            )
        )
        if doomed is None:
            return 0
        result = await self.session.execute(delete(ChangeLog).where(ChangeLog.id <= doomed))
        await self.move(PRUNED, int(doomed))
        return int(getattr(result, "rowcount", 0) or 0)


def _label(value: str) -> Label:
    if value not in LABELS:
        raise ValueError(f"unknown node label in the change log: {value!r}")
    return value
