"""Search history written off the request path, without losing writes.

A search (or a click on a result) is put on a bounded in-process queue and the request
returns; a background task drains the queue in batches (one transaction per batch: upserts
keyed by the search id, so a click and its search merge in either order). When the queue is
full, `record()` waits for room: under extreme load the search slows down rather than
forgetting what was searched. If the database is down the batch is kept and retried with
backoff; on shutdown (SIGTERM) the lifespan calls `stop()`, which drains what is left.
The same task deletes history older than the retention setting now and then.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from prometheus_client import Counter, Gauge
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from catalog.core.logging import get_logger
from catalog.core.retry import Backoff
from catalog.core.time import utcnow
from catalog.discover.repository import DiscoverRepository
from catalog.observability.metrics import QUEUE_DEPTH

log = get_logger(__name__)

PENDING = Gauge(
    "catalog_search_history_pending",
    "Search history entries waiting to be written",
    multiprocess_mode="livesum",
)
WRITTEN = Counter(
    "catalog_search_history_written_total", "Search history entries written", ("kind",)
)
FLUSH_FAILURES = Counter(
    "catalog_search_history_flush_failures_total", "Failed attempts to write a history batch"
)
BATCH_SIZE = 500
MAX_BACKOFF_S = 5.0
BACKOFF = Backoff(0.1, MAX_BACKOFF_S)  # between attempts at a failing batch


@dataclass(frozen=True)
class Entry:
    kind: str  # "search" | "click"
    row: dict[str, Any]


class SearchHistoryRecorder:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        queue_size: int,
        flush_interval_s: float,
        retention_days: int,
        prune_interval_s: float,
    ) -> None:
        self.sessions = sessions
        self.queue: asyncio.Queue[Entry] = asyncio.Queue(maxsize=queue_size)
        self.flush_interval_s = flush_interval_s
        self.retention_days = retention_days
        self.prune_interval_s = prune_interval_s
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._next_prune = 0.0

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="search-history")

    async def stop(self) -> None:
        """Drain everything queued, then end the background task."""
        self._stopping.set()
        if self._task is not None:
            await self._task
            self._task = None

    async def record(self, kind: str, row: dict[str, Any]) -> None:
        await self.queue.put(Entry(kind, row))
        PENDING.inc()
        QUEUE_DEPTH.labels("search_history").inc()

    def _take(self, limit: int) -> list[Entry]:
        batch: list[Entry] = []
        while len(batch) < limit and not self.queue.empty():
            batch.append(self.queue.get_nowait())
        return batch

    async def _run(self) -> None:
        failures = 0
        batch: list[Entry] = []
        while True:
            if not batch:
                first = await self._first_or_stop()
                if first is not None:
                    # let the rest of a burst arrive and share one transaction (unless stopping)
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(self.flush_interval_s):
                            await self._stopping.wait()
                    batch = [first, *self._take(BATCH_SIZE - 1)]
            if batch:
                try:
                    await self._write(batch)
                    batch, failures = [], 0
                except Exception as exc:  # database down: keep the batch, try again
                    failures += 1
                    FLUSH_FAILURES.inc()
                    log.warning(
                        "search_history_flush_failed",
                        error=repr(exc)[:300],
                        pending=len(batch) + self.queue.qsize(),
                    )
                    pause = BACKOFF.pause_s(failures)
                    if self._stopping.is_set() and pause >= MAX_BACKOFF_S:
                        log.error("search_history_lost_at_shutdown", entries=len(batch))
                        return
                    await asyncio.sleep(pause)
                    continue
            await self._maybe_prune()
            if self._stopping.is_set() and self.queue.empty() and not batch:
                return

    async def _first_or_stop(self) -> Entry | None:
        """The next entry, or None when stopping with nothing left or after an idle interval."""
        if not self.queue.empty():
            return self.queue.get_nowait()
        if self._stopping.is_set():
            return None
        getter = asyncio.ensure_future(self.queue.get())
        stopper = asyncio.ensure_future(self._stopping.wait())
        done, pending = await asyncio.wait(
            {getter, stopper}, timeout=self.prune_interval_s, return_when=asyncio.FIRST_COMPLETED
        )
        for task in pending:
            task.cancel()
        if getter in done:
            return getter.result()
        with contextlib.suppress(asyncio.QueueEmpty):
            return self.queue.get_nowait()
        return None

    async def _write(self, batch: list[Entry]) -> None:
        searches = [e.row for e in batch if e.kind == "search"]
        clicks = [e.row for e in batch if e.kind == "click"]
        async with self.sessions() as session, session.begin():
            await DiscoverRepository(session).write_history(searches, clicks)
        PENDING.dec(len(batch))
        QUEUE_DEPTH.labels("search_history").dec(len(batch))
        WRITTEN.labels("search").inc(len(searches))
        WRITTEN.labels("click").inc(len(clicks))

    async def _maybe_prune(self) -> None:
        loop_time = asyncio.get_running_loop().time()
        if not self.retention_days or loop_time < self._next_prune:
            return
        self._next_prune = loop_time + self.prune_interval_s
        cutoff = utcnow() - timedelta(days=self.retention_days)
        try:
            async with self.sessions() as session, session.begin():
                removed = await DiscoverRepository(session).prune_history(cutoff)
            if removed:
                log.info("search_history_pruned", removed=removed, before=cutoff.isoformat())
        except Exception as exc:  # the next round tries again
            log.warning("search_history_prune_failed", error=repr(exc)[:300])
