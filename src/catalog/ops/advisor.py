"""`catalog db advise`: EXPLAIN the slowest queries and suggest the indexes they lack.

Where the queries come from:

1. `pg_stat_statements`, when the extension is created in this database AND loaded through
   `shared_preload_libraries` (both are detected; the extension is never created here): the
   slowest SELECTs of this database by mean execution time.
2. Otherwise (the usual case: the module ships with PostgreSQL but is not preloaded), the
   catalog's hot queries (catalog.ops.hot_queries), so the command is useful on any server.

How they are EXPLAINed: `pg_stat_statements` shows queries with `$n` placeholders for their
constants, and the hot queries are compiled the same way. PostgreSQL 16+ plans them with
`EXPLAIN (GENERIC_PLAN)`. PostgreSQL 15 has no such option, so the statement is PREPAREd
(parameter types inferred from context) and `EXPLAIN EXECUTE`d with NULL for every parameter
under `plan_cache_mode = force_generic_plan`: a generic plan is built without looking at
parameter values, so the NULLs are never folded into the plan (a custom plan would turn
`team = NULL` into "no rows"). A statement whose parameter types cannot be inferred is
reported as not explained. Only SELECT statements are explained, never executed.

Suggestions: every sequential scan with a filter, on a table estimated to hold at least
`MIN_ROWS` rows, suggests a b-tree index on the filtered columns (equality columns first, then
one range column), unless an existing index already leads with them. Conditions under OR,
on expressions or with operators a b-tree cannot serve are left alone.

Validation: when `CREATE EXTENSION IF NOT EXISTS hypopg` succeeds, each suggestion becomes a
hypothetical index (`hypopg_create_index`, visible only to this session's EXPLAIN) and the
queries that asked for it are planned again: a suggestion is `validated` when the planner
uses the index and the estimated cost falls by at least `MIN_GAIN_PERCENT`, else `no gain`.
Without hypopg suggestions are `unvalidated`.

Everything runs in one transaction that is rolled back, the hypopg extension included when
this command created it: the database is left exactly as it was found.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncEngine

from catalog.db.maintenance import quote_identifier
from catalog.ops.hot_queries import HotQuery, hot_queries
from catalog.settings import Settings

MIN_ROWS = 1000
MIN_GAIN_PERCENT = 10.0
MAX_COLUMNS = 3
GENERIC_PLAN_VERSION = 160000
SELECT = re.compile(r"^\s*(\(\s*)*select\b", re.IGNORECASE)
INTERNAL = re.compile(r"\b(pg_catalog|pg_stat_\w+|information_schema|hypopg\w*)\b", re.I)

SuggestionStatus = Literal["validated", "no gain", "unvalidated"]


@dataclass
class SeqScan:
    table: str
    filter: str
    estimated_rows: float
    table_rows: float


@dataclass
class Explained:
    label: str
    sql: str
    cost: float | None = None
    seq_scans: list[SeqScan] = field(default_factory=list)
    index_scans: list[str] = field(default_factory=list)
    error: str | None = None
    calls: int | None = None
    mean_ms: float | None = None


@dataclass
class Suggestion:
    table: str
    columns: list[str]
    statement: str
    queries: list[str]
    status: SuggestionStatus = "unvalidated"
    cost_before: float | None = None
    cost_after: float | None = None
    gain_percent: float | None = None


@dataclass
class Advice:
    source: Literal["pg_stat_statements", "hot queries"]
    source_detail: str
    hypopg: bool
    hypopg_detail: str
    explained: list[Explained] = field(default_factory=list)
    suggestions: list[Suggestion] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Session:
    """One asyncpg connection in one transaction; every step in a savepoint of its own."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw
        self.version = 0
        self._prepared = 0

    async def attempt(self, sql: str, *args: Any, fetch: bool = True) -> Any:
        """Run in a savepoint: a failing statement must not abort the whole transaction."""
        async with self.raw.transaction():
            if fetch:
                return await self.raw.fetch(sql, *args)
            return await self.raw.execute(sql, *args)

    async def explain(self, sql: str) -> Any:
        """The generic plan (JSON) of a statement with or without `$n` placeholders."""
        if self.version >= GENERIC_PLAN_VERSION:
            rows = await self.attempt(f"EXPLAIN (GENERIC_PLAN, FORMAT JSON) {sql}")
            return _plan_document(rows[0][0])
        self._prepared += 1
        name = f"catalog_advise_{self._prepared}"
        async with self.raw.transaction():
            await self.raw.execute(f"PREPARE {name} AS {sql}")
            try:
                count = await self.raw.fetchval(
                    "SELECT cardinality(parameter_types) FROM pg_prepared_statements "
                    "WHERE name = $1",
                    name,
                )
                arguments = f"({', '.join(['NULL'] * count)})" if count else ""
                document = await self.raw.fetchval(
                    f"EXPLAIN (FORMAT JSON) EXECUTE {name}{arguments}"
                )
            finally:
                await self.raw.execute(f"DEALLOCATE {name}")
        return _plan_document(document)


def _plan_document(value: Any) -> Any:
    document = json.loads(value) if isinstance(value, str | bytes) else value
    return document[0]["Plan"]


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", ()):
        yield from _nodes(child)


async def _workload(
    session: _Session, limit: int, settings: Settings, engine: AsyncEngine
) -> tuple[list[Explained], Literal["pg_stat_statements", "hot queries"], str]:
    raw = session.raw
    available = await raw.fetchval(
        "SELECT count(*) FROM pg_available_extensions WHERE name = 'pg_stat_statements'"
    )
    created = await raw.fetchval(
        "SELECT count(*) FROM pg_extension WHERE extname = 'pg_stat_statements'"
    )
    loaded = await _preloaded(session, "pg_stat_statements")
    if not available:
        why = "pg_stat_statements is not installed on the server (PostgreSQL contrib)"
    elif not created:
        why = {
            False: "pg_stat_statements is available but not loaded: add it to "
            "shared_preload_libraries, restart, then CREATE EXTENSION pg_stat_statements",
            True: "pg_stat_statements is loaded but not created here: "
            "CREATE EXTENSION pg_stat_statements",
            None: "pg_stat_statements is not created here (it must also be in "
            "shared_preload_libraries, which this role may not read)",
        }[loaded]
    else:
        try:
            rows = await session.attempt(
                "SELECT query, calls, mean_exec_time FROM pg_stat_statements "
                "WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) "
                "ORDER BY mean_exec_time DESC LIMIT 500"
            )
        except Exception as exc:  # e.g. no privilege to read it: fall back, say why
            why = f"pg_stat_statements cannot be read ({type(exc).__name__}: {exc})"
        else:
            chosen = [
                row
                for row in rows
                if SELECT.match(row["query"]) and not INTERNAL.search(row["query"])
            ][:limit]
            if chosen:
                return (
                    [
                        Explained(
                            label=f"#{n} mean {row['mean_exec_time']:.2f} ms, {row['calls']} calls",
                            sql=row["query"],
                            calls=int(row["calls"]),
                            mean_ms=float(row["mean_exec_time"]),
                        )
                        for n, row in enumerate(chosen, start=1)
                    ],
                    "pg_stat_statements",
                    f"the {len(chosen)} slowest SELECTs by mean time",
                )
            why = "pg_stat_statements has recorded no SELECT of this database yet"
    queries: list[HotQuery] = hot_queries(engine, settings)
    return (
        [Explained(label=q.label, sql=q.sql) for q in queries],
        "hot queries",
        why + "; explaining the catalog's hot queries instead",
    )


async def _preloaded(session: _Session, library: str) -> bool | None:
    """Whether `library` is in shared_preload_libraries; None when this role may not read the
    setting (it needs pg_read_all_settings): then only trying the extension tells."""
    try:
        rows = await session.attempt("SELECT current_setting('shared_preload_libraries')")
    except Exception:
        return None
    return library in [part.strip() for part in str(rows[0][0]).split(",")]


async def _try_hypopg(session: _Session) -> tuple[bool, str]:
    try:
        await session.attempt("CREATE EXTENSION IF NOT EXISTS hypopg", fetch=False)
    except Exception as exc:
        return False, (
            f"hypopg unavailable ({type(exc).__name__}); suggestions are not validated "
            "(Debian: apt-get install postgresql-15-hypopg)"
        )
    return True, "hypopg: suggestions validated with hypothetical indexes"


def _split_top_level(expression: str, keyword: str) -> list[str]:
    parts, depth, start, i = [], 0, 0, 0
    token = f" {keyword} "
    while i < len(expression):
        char = expression[i]
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "'":
            i = expression.find("'", i + 1)
            if i < 0:
                break
        elif depth == 0 and expression.startswith(token, i):
            parts.append(expression[start:i])
            start = i + len(token)
            i = start
            continue
        i += 1
    parts.append(expression[start:])
    return parts


def _unwrap(expression: str) -> str:
    expression = expression.strip()
    while expression.startswith("(") and expression.endswith(")"):
        inner = expression[1:-1]
        depth = 0
        for char in inner:
            depth += {"(": 1, ")": -1}.get(char, 0)
            if depth < 0:
                return expression
        expression = inner.strip()
    return expression


CONDITION = re.compile(
    r"""^\(?(?:\w+\.)?"?(?P<column>\w+)"?\)?(?:::[\w ]+(?:\[\])?)?\s*
        (?P<op>=|<=|>=|<|>)\s*
        (?P<value>\(*(?:\$\d+|'|-?\d|ANY\b|CURRENT_|now\(\)).*)$""",
    re.VERBOSE | re.IGNORECASE,
)


def filtered_columns(condition: str, columns: set[str]) -> list[str]:
    """The b-tree key a filter asks for: equality columns, then one range column; [] when
    the filter has an OR or nothing a b-tree serves."""
    top = _unwrap(condition)
    if len(_split_top_level(top, "OR")) > 1:
        return []
    equal: list[str] = []
    ranged: list[str] = []
    for part in _split_top_level(top, "AND"):
        match = CONDITION.match(_unwrap(part))
        if not match or match["column"] not in columns:
            continue
        target = equal if match["op"] == "=" else ranged
        if match["column"] not in equal + ranged:
            target.append(match["column"])
    return (equal + ranged[:1])[:MAX_COLUMNS]


async def _table_facts(session: _Session, table: str) -> tuple[set[str], float, list[list[str]]]:
    """(columns, estimated rows, leading columns of each valid b-tree index) of a table."""
    raw = session.raw
    columns = {
        row["attname"]
        for row in await raw.fetch(
            "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass($1) "
            "AND attnum > 0 AND NOT attisdropped",
            table,
        )
    }
    rows = await raw.fetchval("SELECT reltuples FROM pg_class WHERE oid = to_regclass($1)", table)
    keys = await raw.fetch(
        """SELECT ARRAY(SELECT a.attname FROM unnest(x.indkey) WITH ORDINALITY k(attnum, ord)
                        JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.attnum
                        ORDER BY k.ord) AS key
           FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_am am
             ON am.oid = i.relam
           WHERE x.indrelid = to_regclass($1) AND x.indisvalid AND am.amname = 'btree'""",
        table,
    )
    return columns, float(rows or 0), [list(row["key"]) for row in keys]


def _covered(columns: list[str], existing: list[list[str]]) -> bool:
    return any(key[: len(columns)] == columns or key[:1] == columns[:1] for key in existing)


async def _explain_all(session: _Session, explained: list[Explained]) -> None:
    for item in explained:
        try:
            plan = await session.explain(item.sql)
        except Exception as exc:  # reported per query; the others still run
            item.error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
            continue
        item.cost = float(plan["Total Cost"])
        for node in _nodes(plan):
            if node.get("Index Name"):
                item.index_scans.append(str(node["Index Name"]))
            if node["Node Type"] == "Seq Scan" and node.get("Filter"):
                _, table_rows, _ = await _table_facts(session, node["Relation Name"])
                item.seq_scans.append(
                    SeqScan(
                        node["Relation Name"], node["Filter"], float(node["Plan Rows"]), table_rows
                    )
                )


async def _suggest(
    session: _Session, explained: list[Explained], notes: list[str]
) -> list[Suggestion]:
    found: dict[tuple[str, tuple[str, ...]], Suggestion] = {}
    for item in explained:
        for scan in item.seq_scans:
            columns, table_rows, existing = await _table_facts(session, scan.table)
            key_columns = filtered_columns(scan.filter, columns)
            if not key_columns:
                continue
            if table_rows < 0:
                notes.append(f"{scan.table}: never analyzed, no row estimate: catalog db analyze")
                continue
            if table_rows < MIN_ROWS:
                notes.append(
                    f"{scan.table}: sequential scan on ~{table_rows:.0f} rows (under {MIN_ROWS}: "
                    "cheaper than any index)"
                )
                continue
            if _covered(key_columns, existing):
                notes.append(
                    f"{scan.table}: an index on ({', '.join(key_columns)}) exists; the planner "
                    "prefers a sequential scan (low selectivity or stale statistics: "
                    "catalog db analyze)"
                )
                continue
            key = (scan.table, tuple(key_columns))
            if key not in found:
                found[key] = Suggestion(
                    table=scan.table,
                    columns=key_columns,
                    statement=(
                        f"CREATE INDEX CONCURRENTLY ON {quote_identifier(scan.table)} "
                        f"({', '.join(quote_identifier(c) for c in key_columns)})"
                    ),
                    queries=[],
                )
            if item.label not in found[key].queries:
                found[key].queries.append(item.label)
    return list(found.values())


async def _validate(session: _Session, suggestion: Suggestion, explained: list[Explained]) -> None:
    columns = ", ".join(quote_identifier(c) for c in suggestion.columns)
    created = await session.attempt(
        "SELECT indexrelid, indexname FROM hypopg_create_index($1)",
        f"CREATE INDEX ON {quote_identifier(suggestion.table)} ({columns})",
    )
    oid, name = created[0]["indexrelid"], created[0]["indexname"]
    try:
        best: tuple[float, float, float] | None = None
        for item in explained:
            if item.label not in suggestion.queries or item.cost is None:
                continue
            plan = await session.explain(item.sql)
            used = any(node.get("Index Name") == name for node in _nodes(plan))
            after = float(plan["Total Cost"])
            gain = (item.cost - after) / item.cost * 100 if item.cost and used else 0.0
            if best is None or gain > best[2]:
                best = (item.cost, after, gain)
    finally:
        await session.attempt("SELECT hypopg_drop_index($1)", oid)
    if best is not None:
        suggestion.cost_before, suggestion.cost_after = round(best[0], 2), round(best[1], 2)
        suggestion.gain_percent = round(best[2], 1)
        suggestion.status = "validated" if best[2] >= MIN_GAIN_PERCENT else "no gain"


async def advise(engine: AsyncEngine, settings: Settings, *, limit: int = 10) -> Advice:
    """Explain the workload and suggest indexes (PostgreSQL only); changes nothing."""
    async with engine.connect() as connection:
        raw: Any = (await connection.get_raw_connection()).driver_connection
        session = _Session(raw)
        session.version = int(await raw.fetchval("SHOW server_version_num"))
        transaction = raw.transaction()
        await transaction.start()
        try:
            if session.version < GENERIC_PLAN_VERSION:
                await raw.execute("SET LOCAL plan_cache_mode = force_generic_plan")
            explained, source, detail = await _workload(session, limit, settings, engine)
            hypopg, hypopg_detail = await _try_hypopg(session)
            advice = Advice(source, detail, hypopg, hypopg_detail, explained)
            await _explain_all(session, explained)
            advice.suggestions = await _suggest(session, explained, advice.notes)
            if hypopg:
                for suggestion in advice.suggestions:
                    await _validate(session, suggestion, explained)
                await session.attempt("SELECT hypopg_reset()")
            order = {"validated": 0, "unvalidated": 1, "no gain": 2}
            advice.suggestions.sort(key=lambda s: (order[s.status], -(s.gain_percent or 0)))
            advice.notes = sorted(set(advice.notes))
            return advice
        finally:
            await transaction.rollback()
