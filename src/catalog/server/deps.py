"""FastAPI dependency aliases shared by every router."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.cache.invalidation import take_stale
from catalog.changes.recorder import take_appended
from catalog.core.errors import ServiceUnavailable
from catalog.core.logging import get_logger
from catalog.idempotency.middleware import ATTEMPT as IDEMPOTENCY_ATTEMPT
from catalog.idempotency.store import mark_committed
from catalog.kit.bulk import BulkIn, within_limit
from catalog.openlineage.repository import RECEIVED as LINEAGE_RECEIVED
from catalog.server.resources import Resources
from catalog.settings import Settings

log = get_logger(__name__)
_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def resources_of(request: Request) -> Resources:
    resources: Resources = request.state.catalog
    return resources


# Dependencies are `async def` even when they do no I/O: FastAPI runs a plain `def` dependency
# in a worker thread, which cost ~0.3 ms per request on this machine.
async def get_resources(request: Request) -> Resources:
    return resources_of(request)


async def get_settings(request: Request) -> Settings:
    return resources_of(request).settings


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session per request: committed when the handler succeeds, rolled back otherwise.

    Services only flush; this is the one place that commits, and then retires the cache
    scopes the transaction changed, before the answer leaves (catalog/cache). Reads and
    writes get different factories so SQLite can take its write lock up front (db/engine.py).
    """
    resources = resources_of(request)
    factory = (
        resources.read_sessions if request.method in _READ_METHODS else resources.write_sessions
    )
    attempt = request.scope.get("state", {}).get(IDEMPOTENCY_ATTEMPT)
    async with factory() as session:
        try:
            yield session
            if attempt is not None:  # an Idempotency-Key request: its writes commit with this
                await mark_committed(session, attempt)
            await session.commit()
            await resources.cache.retire(take_stale(session))
            if take_appended(session):
                resources.changes_committed()  # project the write now, not at the next poll
            if session.info.pop(LINEAGE_RECEIVED, False):
                resources.lineage_applier.wake()
        except BaseException as exc:
            # A rollback on a dead connection fails too; the first error is the one to report.
            with contextlib.suppress(Exception):
                await session.rollback()
            if isinstance(exc, OSError | TimeoutError):
                # asyncpg raises connection failures unwrapped; name the dependency.
                log.warning("database_unavailable", error=repr(exc)[:500])
                retry_after = resources.settings.unavailable_retry_after_s
                raise ServiceUnavailable("database unavailable", retry_after=retry_after) from exc
            raise


ResourcesDep = Annotated[Resources, Depends(get_resources)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
# scope="function": commit before the response is sent, so a failed commit is the answer.
Session = Annotated[AsyncSession, Depends(get_session, scope="function")]


async def get_bulk_items(body: BulkIn, settings: SettingsDep) -> list[dict[str, Any]]:
    return within_limit(body, settings.bulk_max_items)


# A batch endpoint's `{"items": [...]}` body (kit/bulk.py), 413 over CATALOG_BULK_MAX_ITEMS.
BulkItems = Annotated[list[dict[str, Any]], Depends(get_bulk_items)]
