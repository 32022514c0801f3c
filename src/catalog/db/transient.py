"""Which database errors are transient, and of which kind.

Two kinds, because they differ in what a retry may repeat:

- "conflict": the database refused the transaction and rolled it back, so nothing happened and
  running it again is safe for any request: PostgreSQL serialization failures (SQLSTATE 40001)
  and deadlocks (40P01), SQLite busy/locked.
- "connection": the connection dropped (asyncpg connection errors, SQLSTATE class 08, the
  server terminating the backend (57P01-57P03), too many connections (53300), SQLAlchemy's
  `connection_invalidated`, a socket error). Whether the statement ran is unknown (a COMMIT
  may have reached the server), so only idempotent requests may be repeated.

Never transient here: waiting for a pooled connection (`sqlalchemy.exc.TimeoutError`: the pool
is exhausted and the caller must get its 503 at once, not after more waiting) and timeouts in
general (the caller already spent the whole timeout once).

The error is looked for along the exception's chain: `DBAPIError.orig`, then `__cause__`, so
a `ServiceUnavailable("database unavailable")` raised `from` a socket error (server/deps.py)
counts.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Literal

import asyncpg
import sqlalchemy.exc

TransientKind = Literal["conflict", "connection"]

CONFLICT_SQLSTATES = frozenset({"40001", "40P01"})  # serialization_failure, deadlock_detected
CONNECTION_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "53300"})
CONNECTION_SQLSTATE_CLASS = "08"  # connection_exception
SQLITE_BUSY = 5
SQLITE_LOCKED = 6
_MAX_CHAIN = 16


def is_transient_db_error(exc: BaseException) -> TransientKind | None:
    """The kind of transient database failure behind `exc`, or None when it is not one."""
    for link in _chain(exc):
        if isinstance(link, sqlalchemy.exc.TimeoutError | TimeoutError):
            return None  # pool exhaustion or a timeout: never retried (TimeoutError is an OSError)
        kind = _kind_of(link)
        if kind is not None:
            return kind
    return None


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """`exc`, the driver error it wraps, what that was raised from, and so on (no loops)."""
    seen: set[int] = set()
    pending: list[BaseException] = [exc]
    while pending and len(seen) < _MAX_CHAIN:
        link = pending.pop(0)
        if id(link) in seen:
            continue
        seen.add(id(link))
        yield link
        orig = getattr(link, "orig", None) if isinstance(link, sqlalchemy.exc.DBAPIError) else None
        pending.extend(e for e in (orig, link.__cause__) if isinstance(e, BaseException))


def _kind_of(link: BaseException) -> TransientKind | None:
    if isinstance(link, sqlalchemy.exc.DBAPIError) and link.connection_invalidated:
        return "connection"
    sqlstate = _sqlstate(link)
    if sqlstate is not None:
        if sqlstate in CONFLICT_SQLSTATES:
            return "conflict"
        if sqlstate.startswith(CONNECTION_SQLSTATE_CLASS) or sqlstate in CONNECTION_SQLSTATES:
            return "connection"
    if isinstance(link, sqlite3.Error):
        code = getattr(link, "sqlite_errorcode", None)
        # Extended codes (SQLITE_BUSY_SNAPSHOT, ...) keep the primary code in the low byte.
        if isinstance(code, int) and code & 0xFF in (SQLITE_BUSY, SQLITE_LOCKED):
            return "conflict"
        if code is None and "is locked" in str(link):
            return "conflict"
    if isinstance(link, asyncpg.InterfaceError) and "connection is closed" in str(link):
        return "connection"
    if isinstance(link, OSError):
        return "connection"  # ConnectionResetError, refused, broken pipe...
    return None


def _sqlstate(link: BaseException) -> str | None:
    # asyncpg's errors and SQLAlchemy's adapted driver errors both carry `sqlstate`.
    value = getattr(link, "sqlstate", None) or getattr(link, "pgcode", None)
    return value if isinstance(value, str) else None
