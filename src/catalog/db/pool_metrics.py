"""Connection pool gauges, kept current by SQLAlchemy's pool events (no polling).

`catalog_db_pool_size` (connections the steady pool holds), `_checked_out` (in use),
`_overflow` (opened beyond the steady pool), `_waiters` (requests waiting for a connection).
With several workers (`catalog serve --workers N`) each worker reports its own and a scrape
shows their sum.
"""

from __future__ import annotations

import weakref
from typing import Any

from prometheus_client import Gauge
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

SIZE = Gauge("catalog_db_pool_size", "Steady pool size", multiprocess_mode="livesum")
CHECKED_OUT = Gauge(
    "catalog_db_pool_checked_out", "Connections in use", multiprocess_mode="livesum"
)
OVERFLOW = Gauge(
    "catalog_db_pool_overflow", "Connections beyond the steady pool", multiprocess_mode="livesum"
)
WAITERS = Gauge(
    "catalog_db_pool_waiters", "Requests waiting for a connection", multiprocess_mode="livesum"
)


def _waiters(pool: Any) -> int:
    # The async queue behind SQLAlchemy's pool keeps its waiting getters in `_getters`.
    queue = getattr(pool, "_pool", None)
    getters = getattr(getattr(queue, "_queue", queue), "_getters", None)
    return len(getters) if getters is not None else 0


def _update(pool: Any) -> None:
    size = getattr(pool, "size", None)
    if size is None:
        return
    SIZE.set(size())
    CHECKED_OUT.set(pool.checkedout())
    OVERFLOW.set(max(0, pool.overflow()))
    WAITERS.set(_waiters(pool))


def instrument_pool(engine: AsyncEngine) -> None:
    """Update on pool events, and again right before a scrape (an event fires before the
    pool's own counters move, so the event-time reading can lag by one connection)."""
    from catalog.observability.metrics import BEFORE_SCRAPE

    pool = engine.sync_engine.pool
    for name in ("connect", "checkout", "checkin", "close", "invalidate"):
        event.listen(pool, name, lambda *_args, _pool=pool: _update(_pool))
    _update(pool)
    reference = weakref.ref(pool)

    def refresh() -> None:
        alive = reference()
        if alive is not None:
            _update(alive)

    BEFORE_SCRAPE["db_pool"] = refresh  # the current engine (one per process outside tests)
