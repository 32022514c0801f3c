"""Test-only routes that make the database fail for real, through `RetryingRoute`.

Each route counts its attempts per `token` (the retry wrapper re-runs the whole handler, so
the count is the number of attempts) and, for the first `times` attempts, provokes a REAL
error from the database of the app it runs in:

- `serialization` / `deadlock` (PostgreSQL): a PL/pgSQL `RAISE ... USING ERRCODE` of 40001 /
  40P01, which the server reports exactly like the real conflict;
- `terminate` (PostgreSQL): the backend serving the session is terminated by the server;
- `locked` (SQLite): a second connection holds the write lock while the session writes, so
  SQLite answers "database is locked" once its busy timeout runs out.

`write=true` inserts a tag named after the token first: after the request succeeds there must
be exactly one, which shows that failed attempts were rolled back and the work redone.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections import Counter
from typing import Literal

from fastapi import APIRouter, FastAPI
from sqlalchemy import make_url, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.db.models import Tag
from catalog.server.deps import Session, SettingsDep
from catalog.server.retrying_route import RetryingRoute
from catalog.settings import Settings
from tests.support.probe_routes import app_with_probe_routes

Fault = Literal["serialization", "deadlock", "terminate", "locked"]
RAISE = "DO $$ BEGIN RAISE EXCEPTION 'provoked by a test' USING ERRCODE = '{code}'; END $$"
SQLSTATES = {"serialization": "40001", "deadlock": "40P01"}

ATTEMPTS: Counter[str] = Counter()
_arrivals: Counter[str] = Counter()
_barriers: dict[str, asyncio.Event] = {}

router = APIRouter(prefix="/t/dbf", route_class=RetryingRoute)


async def provoke(session: AsyncSession, settings: Settings, fault: Fault, token: str) -> None:
    """Make the session's next statement fail with a real `fault` from the database."""
    if fault in SQLSTATES:
        await session.execute(text(RAISE.format(code=SQLSTATES[fault])))
    elif fault == "terminate":
        await session.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))
    else:
        path = make_url(settings.database_url).database
        holder = sqlite3.connect(str(path), timeout=5, isolation_level=None)
        try:
            holder.execute("BEGIN IMMEDIATE")  # the write lock, held by someone else
            session.add(Tag(name=f"{token}-blocked"))
            await session.flush()
        finally:
            holder.rollback()
            holder.close()
    raise AssertionError(f"the database did not fail with {fault}")


@router.api_route("/fail", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
async def fail_first(
    session: Session,
    settings: SettingsDep,
    token: str,
    fault: Fault,
    times: int = 1,
    write: bool = False,
) -> dict[str, int]:
    ATTEMPTS[token] += 1
    attempt = ATTEMPTS[token]
    if attempt <= times and fault == "locked":
        await provoke(session, settings, fault, token)  # before the session takes the lock
    if write:
        session.add(Tag(name=token))
        await session.flush()
    if attempt <= times:
        await provoke(session, settings, fault, token)
    await session.execute(text("SELECT 1"))  # always needs a connection
    return {"attempts": attempt}


@router.post("/lock-pair")
async def lock_pair(session: Session, token: str, first: str, second: str) -> dict[str, int]:
    """Lock `first`, wait until the other request locked its first row, then lock `second`.

    Two requests with the rows swapped deadlock on PostgreSQL: the server aborts one of them
    (40P01) and the retry runs it again after the other one committed.
    """
    ATTEMPTS[token] += 1
    bump = update(Tag).values(usage_count=Tag.usage_count + 1)
    await session.execute(bump.where(Tag.id == first))
    _arrivals[token] += 1
    barrier = _barriers.setdefault(token, asyncio.Event())
    if _arrivals[token] >= 2:
        barrier.set()
    await asyncio.wait_for(barrier.wait(), timeout=10)
    await session.execute(bump.where(Tag.id == second))
    return {"attempts": ATTEMPTS[token]}


HOLDING: Counter[str] = Counter()  # "now": requests of /hold holding their connection


@router.get("/hold")
async def hold_connection(session: Session, seconds: float) -> dict[str, float]:
    """Keep a pooled connection checked out for `seconds`."""
    await session.execute(text("SELECT 1"))
    HOLDING["now"] += 1
    try:
        await asyncio.sleep(seconds)
    finally:
        HOLDING["now"] -= 1
    return {"held": seconds}


def app_with_db_faults(settings: Settings) -> FastAPI:
    app = app_with_probe_routes(settings)
    app.include_router(router)
    return app
