"""The indexes the catalog database should have, and what it actually has.

Expected indexes come from two places, each tagged with its `origin`:

- `guide`: the readiness guide's "Recommended Indexes", by exact name (created by migration
  0001). This list is the one definition of them: `catalog db indexes`,
  `GET /api/admin/db/indexes`, `catalog doctor` and the schema tests all read it.
- `schema`: every other index the models declare (foreign keys, filters, the alerts table...),
  so an index any migration created and someone dropped is reported too.

Live indexes: PostgreSQL's `pg_stat_user_indexes` (scans since the statistics were last
reset), `pg_relation_size` and `pg_indexes`; SQLite's `sqlite_master` and `pragma index_list`
/ `index_info`, which know neither sizes nor scans (both null). An index is flagged unused
when it was never scanned and enforces nothing (not unique, not a primary key): a candidate
for dropping, once the statistics cover a representative period.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from catalog.db.models import Base

Origin = Literal["guide", "schema"]


@dataclass(frozen=True)
class ExpectedIndex:
    name: str
    table: str
    columns: tuple[str, ...]  # empty: an expression index, whose columns are not compared
    unique: bool = False
    origin: Origin = "guide"


def _guide(name: str, table: str, *columns: str, unique: bool = False) -> ExpectedIndex:
    return ExpectedIndex(name, table, columns, unique, "guide")


# The readiness guide's "Recommended Indexes", by exact name.
GUIDE_INDEXES: tuple[ExpectedIndex, ...] = (
    _guide("idx_data_product_versions_product_id", "data_product_versions", "product_id"),
    _guide("idx_data_product_versions_version", "data_product_versions", "version"),
    _guide("idx_data_product_versions_created_at", "data_product_versions", "created_at"),
    _guide("idx_tags_name", "tags", "name", unique=True),
    _guide("idx_tags_category", "tags", "category"),
    _guide("idx_tags_parent_tag_id", "tags", "parent_tag_id"),
    _guide("idx_product_tags_product_id", "product_tags", "product_id"),
    _guide("idx_product_tags_tag_id", "product_tags", "tag_id"),
    _guide("idx_product_tags_created_at", "product_tags", "created_at"),
    _guide("idx_search_history_query", "search_history", "query"),
    _guide("idx_search_history_timestamp", "search_history", "timestamp"),
    _guide("idx_product_usage_stats_updated_at", "product_usage_stats", "updated_at"),
    _guide("idx_access_requests_product_id", "access_requests", "product_id"),
    _guide("idx_access_requests_status", "access_requests", "status"),
    _guide("idx_access_requests_requested_at", "access_requests", "requested_at"),
    _guide("idx_langextract_audit_trail_timestamp", "langextract_audit_trail", "timestamp"),
    _guide("idx_langextract_audit_trail_user_id", "langextract_audit_trail", "user_id"),
    _guide(
        "idx_langextract_audit_trail_operation_type", "langextract_audit_trail", "operation_type"
    ),
    _guide("idx_regulatory_schemas_regulatory_type", "regulatory_schemas", "regulatory_type"),
    _guide("idx_regulatory_schemas_version", "regulatory_schemas", "version"),
    _guide("idx_regulatory_schemas_created_at", "regulatory_schemas", "created_at"),
    _guide(
        "idx_regulatory_schemas_type_version",
        "regulatory_schemas",
        "regulatory_type",
        "version",
        unique=True,
    ),
)


def expected_indexes(dialect: str) -> list[ExpectedIndex]:
    """Every index a database of this dialect migrated to head should have."""
    found = {index.name: index for index in GUIDE_INDEXES}
    for table in Base.metadata.sorted_tables:
        for declared in table.indexes:
            name = str(declared.name)
            if name in found:
                continue
            columns = tuple(column.name for column in declared.columns)
            found[name] = ExpectedIndex(name, table.name, columns, bool(declared.unique), "schema")
    return sorted(found.values(), key=lambda index: (index.table, index.name))


@dataclass
class LiveIndex:
    table: str
    name: str
    definition: str
    columns: list[str | None]  # None: an expression
    size_bytes: int | None
    scans: int | None
    unique: bool
    primary: bool
    valid: bool = True
    unused: bool | None = None
    expected: Origin | None = None


@dataclass
class MissingIndex:
    name: str
    table: str
    columns: list[str]
    origin: Origin
    reason: str


@dataclass
class IndexReport:
    database: str
    indexes: list[LiveIndex]
    missing: list[MissingIndex]
    stats_reset: datetime | None = None
    total_size_bytes: int | None = None
    unused: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


PG_INDEXES = text(
    """
    SELECT s.relname AS table_name, s.indexrelname AS index_name, i.indexdef AS definition,
           pg_relation_size(s.indexrelid) AS size_bytes, s.idx_scan AS scans,
           x.indisunique AS is_unique, x.indisprimary AS is_primary, x.indisvalid AS is_valid,
           ARRAY(SELECT a.attname FROM unnest(x.indkey) WITH ORDINALITY AS k(attnum, ord)
                 LEFT JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.attnum
                 ORDER BY k.ord) AS columns
    FROM pg_stat_user_indexes s
    JOIN pg_index x ON x.indexrelid = s.indexrelid
    JOIN pg_indexes i ON i.schemaname = s.schemaname AND i.indexname = s.indexrelname
    WHERE s.schemaname = current_schema()
    ORDER BY s.relname, s.indexrelname
    """
)
PG_STATS_RESET = text("SELECT stats_reset FROM pg_stat_database WHERE datname = current_database()")


async def _postgres_indexes(connection: AsyncConnection) -> tuple[list[LiveIndex], datetime | None]:
    rows = (await connection.execute(PG_INDEXES)).all()
    indexes = [
        LiveIndex(
            table=row.table_name,
            name=row.index_name,
            definition=row.definition,
            columns=list(row.columns),
            size_bytes=int(row.size_bytes),
            scans=int(row.scans),
            unique=bool(row.is_unique),
            primary=bool(row.is_primary),
            valid=bool(row.is_valid),
        )
        for row in rows
    ]
    stats_reset = (await connection.execute(PG_STATS_RESET)).scalar()
    return indexes, stats_reset


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def _sqlite_indexes(connection: AsyncConnection) -> list[LiveIndex]:
    tables = (
        await connection.execute(
            text(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite_%' ORDER BY name"
            )
        )
    ).scalars()
    definitions: dict[str, str | None] = dict(
        (
            await connection.execute(
                text("SELECT name, sql FROM sqlite_master WHERE type = 'index'")
            )
        ).all()
    )
    indexes: list[LiveIndex] = []
    for table in list(tables):
        listed = (await connection.execute(text(f"PRAGMA index_list({_quoted(table)})"))).all()
        for row in sorted(listed, key=lambda r: r.name):
            info = (await connection.execute(text(f"PRAGMA index_info({_quoted(row.name)})"))).all()
            columns: list[str | None] = [r.name for r in sorted(info, key=lambda r: r.seqno)]
            kind = {"pk": "PRIMARY KEY", "u": "UNIQUE"}.get(row.origin, "")
            definition = definitions.get(row.name) or (
                f"{kind} ({', '.join(c or '<expression>' for c in columns)}) on {table}"
            )
            indexes.append(
                LiveIndex(
                    table=table,
                    name=row.name,
                    definition=definition,
                    columns=columns,
                    size_bytes=None,
                    scans=None,
                    unique=bool(row.unique),
                    primary=row.origin == "pk",
                )
            )
    return indexes


def _missing(live: list[LiveIndex], expected: list[ExpectedIndex]) -> list[MissingIndex]:
    by_name = {index.name: index for index in live}
    missing: list[MissingIndex] = []
    for want in expected:
        have = by_name.get(want.name)
        reason = None
        if have is None:
            reason = "absent"
        elif have.table != want.table:
            reason = f"on table {have.table}, expected {want.table}"
        elif want.columns and tuple(have.columns) != want.columns:
            shown = ", ".join(c or "<expression>" for c in have.columns)
            reason = f"columns ({shown}), expected ({', '.join(want.columns)})"
        elif not have.valid:
            reason = "invalid (a failed CREATE/REINDEX CONCURRENTLY): reindex it"
        if reason is not None:
            missing.append(
                MissingIndex(want.name, want.table, list(want.columns), want.origin, reason)
            )
    return missing


async def index_report(connection: AsyncConnection) -> IndexReport:
    """Every index of the connected database, flagged; and the expected ones it lacks."""
    dialect = connection.dialect.name
    stats_reset = None
    if dialect == "postgresql":
        live, stats_reset = await _postgres_indexes(connection)
    else:
        live = await _sqlite_indexes(connection)
    expected = expected_indexes(dialect)
    origins = {index.name: index.origin for index in expected}
    for index in live:
        index.expected = origins.get(index.name)
        if index.scans is not None:
            index.unused = index.scans == 0 and not (index.unique or index.primary)
    sizes = [index.size_bytes for index in live]
    return IndexReport(
        database=dialect,
        indexes=live,
        missing=_missing(live, expected),
        stats_reset=stats_reset,
        total_size_bytes=None if None in sizes else sum(s or 0 for s in sizes),
        unused=[index.name for index in live if index.unused],
    )
