"""Generic repository base: every SQL statement of a domain lives in its repository.

Repositories are built per request from the session (`ProductRepository(session)`), never
commit (the request's session dependency does), and never raise HTTP errors.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Generic, TypeVar, cast

from sqlalchemy import Select, Table, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.db.models import Base

M = TypeVar("M", bound=Base)


def table_of(model: type[Base]) -> Table:
    """The Core table of a model: multi-row INSERTs keyed by column name, no ORM overhead."""
    return cast(Table, model.__table__)


MAX_BINDS = 30000  # parameters per statement, under asyncpg's and SQLite's 32,766/32,767


async def insert_rows(session: AsyncSession, model: type[Base], rows: list[dict[str, Any]]) -> None:
    """One multi-row INSERT of plain rows (keys are column names), nothing for no rows.

    For writers below the domains that own the table, such as kit's audit trail: it may not
    import the audit package's repository, and this keeps its INSERT in a repository module.
    """
    if rows:
        await session.execute(insert(table_of(model)), rows)


def contains(column: Any, text: str) -> Any:
    """Case-insensitive substring match with LIKE wildcards in `text` taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return column.ilike(f"%{escaped}%", escape="\\")


class Repository(Generic[M]):
    model: type[M]

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, id_: str) -> M | None:
        return await self.session.get(self.model, id_)

    async def get_by(self, **filters: Any) -> M | None:
        result = await self.session.scalars(select(self.model).filter_by(**filters).limit(1))
        return result.first()

    async def existing_ids(self, ids: set[str]) -> set[str]:
        """Which of `ids` are rows of this table, in one query."""
        if not ids:
            return set()
        column = table_of(self.model).c.id
        return set(await self.session.scalars(select(column).where(column.in_(ids))))

    async def add(self, obj: M) -> M:
        self.session.add(obj)
        await self.session.flush()
        return obj

    async def delete(self, obj: M) -> None:
        await self.session.delete(obj)
        await self.session.flush()

    async def count(self, statement: Select[Any]) -> int:
        counted = select(func.count()).select_from(statement.order_by(None).subquery())
        return int(await self.session.scalar(counted) or 0)

    async def paginate(
        self, statement: Select[Any], limit: int, offset: int
    ) -> tuple[Sequence[Any], int]:
        """One page of rows and the exact number of rows matching, in two statements."""
        total = await self.count(statement)
        if total == 0 or offset >= total:
            return [], total
        rows = (await self.session.scalars(statement.limit(limit).offset(offset))).all()
        return rows, total

    @property
    def dialect(self) -> str:
        return self.session.get_bind().dialect.name

    async def ensure_named(self, rows: list[dict[str, Any]]) -> tuple[dict[str, str], list[str]]:
        """Create the rows whose `name` is free, reuse the others: ({name: id}, created ids).

        INSERT ... ON CONFLICT (name) DO NOTHING, then a SELECT for the names that existed:
        concurrent requests creating the same name both succeed and agree on one row.
        """
        if not rows:
            return {}, []
        table = table_of(self.model)
        # One statement for every row, executed as "insertmanyvalues" batches: SQLAlchemy
        # compiles it once (cached) and splits the rows under the driver's parameter bound,
        # where a multi-VALUES statement of thousands of rows (a crawl's) was compiled anew,
        # row by row, each time.
        statement = (
            self.insert(table)
            .on_conflict_do_nothing(index_elements=["name"])
            .returning(table.c.id, table.c.name)
        )
        result = await self.session.execute(statement, rows)
        created = {row.name: row.id for row in result}
        missing = [row["name"] for row in rows if row["name"] not in created]
        found = dict(created)
        for start in range(0, len(missing), MAX_BINDS):
            rows_found = await self.session.execute(
                select(table.c.name, table.c.id).where(
                    table.c.name.in_(missing[start : start + MAX_BINDS])
                )
            )
            found.update({row.name: row.id for row in rows_found})
        return found, list(created.values())

    async def lead(self, lock_key: int) -> bool:
        """PostgreSQL: whether this transaction is the one doing a round that one worker at a
        time may do (a transaction-scoped advisory lock, held to its end; when another
        worker's round holds it, this one skips)."""
        return bool(await self.session.scalar(select(func.pg_try_advisory_xact_lock(lock_key))))

    def insert(self, table: Any) -> Any:
        """A dialect INSERT that supports ON CONFLICT (PostgreSQL and SQLite share the syntax)."""
        if self.dialect == "postgresql":
            return postgresql.insert(table)
        return sqlite.insert(table)
