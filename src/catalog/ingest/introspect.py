"""What a database holds, read through SQLAlchemy reflection into plain frozen dataclasses.

The first half of the crawler (`catalog ingest URL`): `introspect(url)` connects to the
database, reads its tables and views (columns in ordinal order, types, defaults, comments,
primary and foreign keys) and returns a `SourceInfo`; the other half turns that into catalog
products. Nothing is written anywhere, and nothing here knows about the catalog's own tables:
the dataclasses are the contract between the two halves.

Speed: a schema is read with SQLAlchemy 2's multi-table reflection (`get_multi_columns` and
friends, all tables and views of a schema in one round of queries) rather than one round per
table, so a PostgreSQL schema of thousands of tables takes seconds, not minutes.

Async drivers (asyncpg, aiosqlite) run the reflection through `AsyncConnection.run_sync`;
sync-only drivers (e.g. `mysql+pymysql`) run the same function on a thread. A missing driver,
an unreachable server or a refused login is an `IntrospectionError` whose text never holds the
password.

Hand-written on purpose: the allowed values of a column. SQLAlchemy reflects a PostgreSQL enum
type's labels, but a `CHECK (status IN ('a', 'b'))` comes back only as the text the database
keeps, and PostgreSQL rewrites it (`(status)::text = ANY ((ARRAY['a'::character varying,
...])::text[])`). `_check_values` reads the few shapes such a constraint takes (IN list,
`= ANY (ARRAY[...])`, `col = 'a' OR col = 'b'`) from a small tokenizer that drops parentheses
and casts; anything else is left alone (no values) rather than guessed at.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any
from urllib.parse import quote_plus

from sqlalchemy import create_engine, inspect
from sqlalchemy import types as sqltypes
from sqlalchemy.engine import URL, Connection, Inspector
from sqlalchemy.engine.interfaces import Dialect
from sqlalchemy.engine.reflection import ObjectKind
from sqlalchemy.exc import (
    ArgumentError,
    CompileError,
    DBAPIError,
    NoSuchModuleError,
    SQLAlchemyError,
)
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from catalog.db.engine import async_url
from catalog.kit.dataset_refs import column_ref, source_of_url, table_ref

CONNECT_TIMEOUT_S = 10.0
DATA_TYPES = ("string", "integer", "decimal", "boolean", "date", "datetime")


class IntrospectionError(Exception):
    """The database could not be read (bad URL, missing driver, unreachable, refused)."""


@dataclass(frozen=True, slots=True)
class ColumnInfo:
    name: str
    physical_type: str  # as the dialect compiles it, lower case ("varchar(40)"); PG enum: its name
    data_type: str  # one of DATA_TYPES
    length: int | None
    precision: int | None
    scale: int | None
    nullable: bool
    default: str | None  # server default text as reflected
    primary_key: bool
    comment: str
    enum_name: str | None
    enum_values: tuple[str, ...]
    ref: str


@dataclass(frozen=True, slots=True)
class ForeignKeyInfo:
    columns: tuple[str, ...]
    referred_schema: str
    referred_table: str
    referred_columns: tuple[str, ...]
    referred_ref: str


@dataclass(frozen=True, slots=True)
class TableInfo:
    schema: str
    name: str
    kind: str  # "table" | "view"
    comment: str
    columns: tuple[ColumnInfo, ...]  # in ordinal order
    foreign_keys: tuple[ForeignKeyInfo, ...]
    ref: str


@dataclass(frozen=True, slots=True)
class SourceInfo:
    source: str  # source_of_url(url): no credentials
    tables: tuple[TableInfo, ...]  # sorted by (schema, name)
    schemas: tuple[str, ...] = ()  # the schemas read (a crawl speaks for these only)


async def introspect(
    url: str,
    *,
    schemas: Sequence[str] = (),
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
) -> SourceInfo:
    """The tables and views of `schemas` (default: the default schema only) whose
    `schema.table` or bare `table` matches an `include` pattern (none: all) and no `exclude`
    pattern (fnmatch, case-sensitive)."""
    try:
        target = async_url(url)
        source = source_of_url(url)
    except (ArgumentError, ValueError):
        # The parser's own message quotes the URL, password and all.
        raise IntrospectionError("not a database URL") from None
    safe = target.render_as_string(hide_password=True)
    _check_sqlite_file(target, safe)
    args = (source, tuple(schemas), tuple(include), tuple(exclude))
    try:
        dialect_cls = target.get_dialect()
    except NoSuchModuleError:
        raise IntrospectionError(f"no SQLAlchemy dialect for {safe}") from None
    try:
        if dialect_cls.is_async:
            engine = create_async_engine(
                target, poolclass=NullPool, connect_args=_connect_args(target)
            )
            try:
                async with engine.connect() as connection:
                    read, tables = await connection.run_sync(_reflect, *args)
            finally:
                await engine.dispose()
        else:
            read, tables = await asyncio.to_thread(_reflect_sync, target, *args)
    except IntrospectionError:
        raise
    except ImportError as exc:
        message = f"cannot introspect {safe}: driver not installed ({exc})"
        raise IntrospectionError(_scrub(message, target)) from None
    except (SQLAlchemyError, OSError, TimeoutError) as exc:
        message = f"cannot introspect {safe}: {_reason(exc)}"
        raise IntrospectionError(_scrub(message, target)) from None
    return SourceInfo(source=source, tables=tables, schemas=read)


def _reflect_sync(
    target: URL, source: str, schemas: Sequence[str], include: Sequence[str], exclude: Sequence[str]
) -> tuple[tuple[str, ...], tuple[TableInfo, ...]]:
    engine = create_engine(target, poolclass=NullPool, connect_args=_connect_args(target))
    try:
        with engine.connect() as connection:
            return _reflect(connection, source, schemas, include, exclude)
    finally:
        engine.dispose()


def _connect_args(target: URL) -> dict[str, Any]:
    if target.get_driver_name() == "asyncpg":
        return {"timeout": CONNECT_TIMEOUT_S}
    if target.get_backend_name() == "postgresql":  # libpq drivers
        return {"connect_timeout": int(CONNECT_TIMEOUT_S)}
    return {}


def _check_sqlite_file(target: URL, safe: str) -> None:
    """SQLite makes a missing file on connect: a typo would crawl (and leave) an empty one."""
    if target.get_backend_name() != "sqlite":
        return
    path = target.database or ""
    if path and path != ":memory:" and not path.startswith("file:") and not os.path.exists(path):
        raise IntrospectionError(f"cannot introspect {safe}: no such SQLite file")


def _reason(exc: BaseException) -> str:
    inner: BaseException = exc
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        # The driver's own exception (asyncpg's InvalidCatalogNameError), not the adapter's.
        inner = exc.orig.__cause__ or exc.orig
    text = str(inner).strip().splitlines()
    return f"{type(inner).__name__}: {text[0] if text else ''}".rstrip(": ")


def _scrub(message: str, target: URL) -> str:
    password = target.password
    if password:
        for spelling in {str(password), quote_plus(str(password))}:
            message = message.replace(spelling, "***")
    return message


# ---------------------------------------------------------------------------------------------
# Reflection (sync; runs inside run_sync or on a thread)


def _reflect(
    connection: Connection,
    source: str,
    schemas: Sequence[str],
    include: Sequence[str],
    exclude: Sequence[str],
) -> tuple[tuple[str, ...], tuple[TableInfo, ...]]:
    inspector = inspect(connection)
    default = inspector.default_schema_name or "main"
    wanted = list(dict.fromkeys(schemas)) or [default]
    known = set(inspector.get_schema_names())
    missing = [schema for schema in wanted if schema not in known]
    if missing:
        raise IntrospectionError(f"no such schema: {', '.join(missing)}")
    tables: list[TableInfo] = []
    for schema in wanted:
        tables.extend(
            _reflect_schema(
                inspector, connection.dialect, source, schema, default, include, exclude
            )
        )
    tables.sort(key=lambda table: (table.schema, table.name))
    return tuple(wanted), tuple(tables)


def selected(schema: str, name: str, include: Sequence[str], exclude: Sequence[str]) -> bool:
    def matches(patterns: Sequence[str]) -> bool:
        qualified = f"{schema}.{name}"
        return any(fnmatchcase(qualified, p) or fnmatchcase(name, p) for p in patterns)

    return (not include or matches(include)) and not matches(exclude)


def _optional(call: Any, *args: Any, **kwargs: Any) -> Any:
    """A reflection call some dialects do not implement (SQLite: comments)."""
    try:
        return call(*args, **kwargs)
    except NotImplementedError:
        return None


def _reflect_schema(
    inspector: Inspector,
    dialect: Dialect,
    source: str,
    schema: str,
    default: str,
    include: Sequence[str],
    exclude: Sequence[str],
) -> list[TableInfo]:
    views = set(inspector.get_view_names(schema))
    views.update(_optional(inspector.get_materialized_view_names, schema) or ())
    names = set(inspector.get_table_names(schema)) | views
    foreign = getattr(inspector, "get_foreign_table_names", None)  # PostgreSQL's inspector
    if foreign is not None:
        names.update(foreign(schema))
    chosen = sorted(name for name in names if selected(schema, name, include, exclude))
    if not chosen:
        return []
    many: dict[str, Any] = {
        "schema": schema,
        "kind": ObjectKind.ANY,
        "filter_names": None if len(chosen) == len(names) else chosen,
    }
    columns = _by_name(inspector.get_multi_columns(**many))
    primary = _by_name(inspector.get_multi_pk_constraint(**many))
    foreign_keys = _by_name(inspector.get_multi_foreign_keys(**many))
    checks = _by_name(_optional(inspector.get_multi_check_constraints, **many) or {})
    comments = _by_name(_optional(inspector.get_multi_table_comment, **many) or {})
    compiled: dict[str, str] = {}
    found: list[TableInfo] = []
    for name in chosen:
        if name not in columns:  # dropped while we read
            continue
        ref = table_ref(source, schema, name)
        pk = set((primary.get(name) or {}).get("constrained_columns") or ())
        allowed = _allowed_values(checks.get(name) or (), [c["name"] for c in columns[name]])
        found.append(
            TableInfo(
                schema=schema,
                name=name,
                kind="view" if name in views else "table",
                comment=(comments.get(name) or {}).get("text") or "",
                columns=tuple(
                    _column(column, ref, pk, allowed, dialect, compiled) for column in columns[name]
                ),
                foreign_keys=tuple(
                    _foreign_key(fk, source, default) for fk in foreign_keys.get(name) or ()
                ),
                ref=ref,
            )
        )
    return found


def _by_name(multi: Any) -> dict[str, Any]:
    """get_multi_* answers are keyed by (schema, table); one schema at a time, so by table."""
    return {key[1]: value for key, value in dict(multi).items()}


def _column(
    column: Any,
    table: str,
    pk: set[str],
    allowed: dict[str, tuple[str, ...]],
    dialect: Dialect,
    compiled: dict[str, str],
) -> ColumnInfo:
    name: str = column["name"]
    type_ = column["type"]
    enum_name: str | None = None
    values: tuple[str, ...] = ()
    if isinstance(type_, sqltypes.Enum):
        enum_name = type_.name
        values = tuple(str(value) for value in type_.enums)
        physical = type_.name or _compile(type_, dialect, compiled, lower=False)
    else:
        physical = _compile(type_, dialect, compiled, lower=True)
        values = allowed.get(name, ())
    is_string = isinstance(type_, sqltypes.String) and not isinstance(type_, sqltypes.Enum)
    is_decimal = isinstance(type_, sqltypes.Numeric) and not isinstance(type_, sqltypes.Float)
    default = column.get("default")
    return ColumnInfo(
        name=name,
        physical_type=physical,
        data_type=_data_type(type_),
        length=type_.length if is_string else None,
        precision=type_.precision if is_decimal else None,
        scale=type_.scale if is_decimal else None,
        nullable=bool(column.get("nullable", True)),
        default=None if default is None else str(default),
        primary_key=name in pk,
        comment=column.get("comment") or "",
        enum_name=enum_name,
        enum_values=values,
        ref=column_ref(table, name),
    )


def _compile(type_: Any, dialect: Dialect, cache: dict[str, str], *, lower: bool) -> str:
    """The dialect's spelling of a type. Cached by repr: 100,000 columns share a few dozen."""
    key = repr(type_)
    if key not in cache:
        try:
            text = str(type_.compile(dialect=dialect))
        except CompileError:  # NullType: a type SQLAlchemy did not recognise
            text = ""
        cache[key] = text.lower() if lower else text
    return cache[key]


def _data_type(type_: Any) -> str:
    if isinstance(type_, sqltypes.Boolean):
        return "boolean"
    if isinstance(type_, sqltypes.Integer):
        return "integer"
    # Float (REAL, DOUBLE) is a Numeric in SQLAlchemy 2.0 but not in 2.1: name both.
    if isinstance(type_, (sqltypes.Numeric, sqltypes.Float)):
        return "decimal"
    if isinstance(type_, sqltypes.DateTime):
        return "datetime"
    if isinstance(type_, sqltypes.Date):
        return "date"
    return "string"


def _foreign_key(fk: Any, source: str, default: str) -> ForeignKeyInfo:
    # SQLAlchemy leaves referred_schema None for the default schema.
    schema: str = fk.get("referred_schema") or default
    table: str = fk["referred_table"]
    return ForeignKeyInfo(
        columns=tuple(fk["constrained_columns"]),
        referred_schema=schema,
        referred_table=table,
        referred_columns=tuple(fk["referred_columns"]),
        referred_ref=table_ref(source, schema, table),
    )


# ---------------------------------------------------------------------------------------------
# CHECK constraints that list a column's values


def _allowed_values(checks: Iterable[Any], columns: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """Column -> values, from the CHECK constraints that list one column's values (the first
    such constraint of a column wins)."""
    exact = set(columns)
    folded = {column.lower(): column for column in columns}
    allowed: dict[str, tuple[str, ...]] = {}
    for check in checks:
        parsed = _check_values(str(check.get("sqltext") or ""))
        if parsed is None:
            continue
        ident, quoted, values = parsed
        column = ident if ident in exact else None if quoted else folded.get(ident.lower())
        if column is not None and column not in allowed:
            allowed[column] = values
    return allowed


_TOKEN = re.compile(
    r"""
      (?P<space>\s+)
    | (?P<str>'(?:[^']|'')*')
    | (?P<qid>"(?:[^"]|"")*"|`[^`]*`)
    | (?P<cast>::)
    | (?P<word>[A-Za-z_][\w$]*)
    | (?P<num>\d+(?:\.\d+)?)
    | (?P<op>[(),=\[\].])
    | (?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)
_KEYWORDS = {"IN", "OR", "AND", "ANY", "ARRAY", "NOT", "IS", "NULL"}


def _tokens(sqltext: str) -> list[tuple[str, str]] | None:
    """Tokens of a CHECK's text without parentheses and casts (`::character varying`,
    `::text[]`); None when it holds anything a value list does not."""
    raw: list[tuple[str, str]] = []
    for match in _TOKEN.finditer(sqltext):
        kind = match.lastgroup or "other"
        if kind == "space":
            continue
        if kind == "other":
            return None
        raw.append((kind, match.group()))
    tokens: list[tuple[str, str]] = []
    i = 0
    while i < len(raw):
        kind, text = raw[i]
        if kind == "op" and text in "()":
            i += 1
            continue
        if kind == "cast":  # skip the type: words, quoted names, `.`, digits, `[]` pairs
            i += 1
            while i < len(raw):
                kind, text = raw[i]
                if text == "[" and i + 1 < len(raw) and raw[i + 1][1] == "]":
                    i += 2
                elif _in_type(kind, text):
                    i += 1
                else:
                    break
            continue
        tokens.append((kind, text))
        i += 1
    return tokens


def _in_type(kind: str, text: str) -> bool:
    """Whether a token can be part of a cast's type (`character varying(10)`, `"my"."type"`)."""
    if kind == "word":
        return text.upper() not in _KEYWORDS
    return kind in ("qid", "num") or (kind == "op" and text in "().")


def _ident(token: tuple[str, str]) -> tuple[str, bool] | None:
    kind, text = token
    if kind == "word" and text.upper() not in _KEYWORDS:
        return text, False
    if kind == "qid":
        return text[1:-1].replace(text[0] * 2, text[0]), True
    return None


def _string(token: tuple[str, str]) -> str | None:
    kind, text = token
    return text[1:-1].replace("''", "'") if kind == "str" else None


def _string_list(tokens: list[tuple[str, str]]) -> tuple[str, ...] | None:
    """`'a' , 'b' , ...` -> ('a', 'b', ...)."""
    values: list[str] = []
    for index, token in enumerate(tokens):
        if index % 2:
            if token != ("op", ","):
                return None
            continue
        value = _string(token)
        if value is None:
            return None
        values.append(value)
    return tuple(values) if values and len(tokens) % 2 else None


def _check_values(sqltext: str) -> tuple[str, bool, tuple[str, ...]] | None:
    """(column, was it quoted, values) of a CHECK that lists one column's string values:
    `col IN ('a', 'b')`, `col = ANY (ARRAY['a', 'b'])` (PostgreSQL's rewrite of IN, casts and
    all) or `col = 'a' OR col = 'b'`; None for anything else."""
    tokens = _tokens(sqltext)
    if not tokens or len(tokens) < 3:
        return None
    ident = _ident(tokens[0])
    if ident is None:
        return None
    words = [text.upper() if kind == "word" else text for kind, text in tokens]
    values: tuple[str, ...] | None = None
    if words[1] == "IN":
        values = _string_list(tokens[2:])
    elif words[1:5] == ["=", "ANY", "ARRAY", "["] and words[-1] == "]":
        values = _string_list(tokens[5:-1])
    elif words[1] == "=":
        found: list[str] = []
        for start in range(0, len(tokens), 4):
            part = tokens[start : start + 4]
            value = _string(part[2]) if len(part) >= 3 else None
            if (
                _ident(part[0]) != ident
                or part[1] != ("op", "=")
                or value is None
                or (len(part) == 4 and words[start + 3] != "OR")
                or (start + 4 >= len(tokens) and len(part) == 4)
            ):
                return None
            found.append(value)
        values = tuple(found)
    if not values:
        return None
    return ident[0], ident[1], values
