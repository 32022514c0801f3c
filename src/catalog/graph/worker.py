"""The outbox worker: projects the nodes the outbox names into the graph store, in order.

Each round takes the oldest `batch` rows, reads the named nodes' current state from the
catalog tables (graph/snapshot.py), makes the graph hold exactly that (MERGE, so repeating a
round is harmless) and only then deletes the rows. A graph outage therefore only delays the
projection: the rows wait, the worker backs off (retries with full jitter inside a round, the
`graph` circuit breaker across rounds) and catches up when the graph returns. Rows appended
while a round runs are left for the next one, which reads the state again.

With several replicas, one worker at a time projects: on PostgreSQL a round runs in one
transaction holding an advisory lock (a second replica skips the round), so an older read of a
node never overwrites a newer one. On SQLite a round reads in a read transaction and takes the
database's single write lock only for the delete, never across the graph call (an idle poll
takes no lock at all); SQLite serves one node, so at most its own processes race,
and a race only delays convergence until the node's next change (or `catalog graph rebuild`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from prometheus_client import Counter, Gauge
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from catalog.db.models import GraphOutbox
from catalog.graph.model import NodeRef, NodeState
from catalog.graph.snapshot import read_states
from catalog.graph.store import GraphStore
from catalog.platform.breaker import CircuitBreaker
from catalog.platform.logging import get_logger
from catalog.platform.metrics import QUEUE_DEPTH
from catalog.platform.retry import call_with_retry
from catalog.platform.tasks import stop_task
from catalog.settings import Settings

log = get_logger(__name__)

PENDING = Gauge(
    "catalog_graph_outbox_pending",
    "Outbox rows not yet projected into the graph store",
    multiprocess_mode="livemax",
)
LAG = Gauge(
    "catalog_graph_outbox_lag_seconds",
    "Age of the oldest outbox row not yet projected",
    multiprocess_mode="livemax",
)
PROJECTED = Counter(
    "catalog_graph_projected_total", "Outbox rows projected into the graph store", ("outcome",)
)
LOCK_KEY = 0x6772617068  # "graph": the advisory lock of the projecting worker
MAX_BACKOFF_S = 30.0


class OutboxWorker:
    def __init__(
        self,
        store: GraphStore,
        sessions: async_sessionmaker[AsyncSession],
        *,
        batch: int,
        interval_s: float,
        postgres: bool,
        read_sessions: async_sessionmaker[AsyncSession] | None = None,
    ) -> None:
        self.store = store
        self.sessions = sessions
        # Reads that need no lock (SQLite's write sessions take its one write lock at BEGIN).
        self.read_sessions = read_sessions or sessions
        self.postgres = postgres
        self.batch = batch
        self.interval_s = interval_s
        # Guards every call into the graph database, the API's reads included (graph/service.py).
        self.breaker = CircuitBreaker("graph", open_s=10.0)
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()

    @classmethod
    def configured(
        cls,
        store: GraphStore,
        sessions: async_sessionmaker[AsyncSession],
        settings: Settings,
        *,
        postgres: bool,
        read_sessions: async_sessionmaker[AsyncSession] | None = None,
    ) -> OutboxWorker:
        """The worker as CATALOG_GRAPH_OUTBOX_* configure it."""
        return cls(
            store,
            sessions,
            batch=settings.graph_outbox_batch,
            interval_s=settings.graph_outbox_interval_s,
            postgres=postgres,
            read_sessions=read_sessions,
        )

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="graph-outbox")

    def wake(self) -> None:
        """Start the next round now (a write just committed)."""
        self._wake.set()

    async def stop(self) -> None:
        """Stop between rounds, or cancel the round under way. The flag matters: a cancel that
        lands inside a database driver call can be absorbed there (seen with aiosqlite), and
        the loop must still end instead of holding shutdown up."""
        self._stopping.set()
        await stop_task(self._task)
        self._task = None

    async def _run(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            try:
                projected = await self.run_once()
                failures = 0
            except Exception as exc:  # the graph is down: the rows wait, nothing is lost
                failures += 1
                PROJECTED.labels("failed").inc()
                log.warning("graph_projection_failed", error=repr(exc)[:300], failures=failures)
                projected = 0
            if projected >= self.batch:
                continue  # more waiting: no pause
            self._wake.clear()
            # Backing off, commits do not cut the pause short, or a burst of writes during an
            # outage would become a burst of attempts against the graph.
            pause = min(MAX_BACKOFF_S, self.interval_s * 2**failures)
            await _first_of({self._stopping} if failures else {self._wake, self._stopping}, pause)

    async def run_once(self) -> int:
        """One round; the number of outbox rows projected."""
        if self.postgres:
            # One transaction holding the advisory lock from the read to the delete.
            async with self.sessions() as session:
                if not await _lead(session):
                    return 0  # another replica's round is running
                rows, states = await self._oldest(session)
                if rows:
                    await self._project(states)
                    await _delete(session, rows)
        else:
            # SQLite: read without the write lock, never hold it over the graph call, and
            # take it only for the delete.
            async with self.read_sessions() as session:
                rows, states = await self._oldest(session)
            if rows:
                await self._project(states)
                async with self.sessions() as session:
                    await _delete(session, rows)
        if rows:
            PROJECTED.labels("projected").inc(len(rows))
        return len(rows)

    async def _oldest(self, session: AsyncSession) -> tuple[Sequence[GraphOutbox], list[NodeState]]:
        """The oldest `batch` rows and the current state of the nodes they name."""
        oldest = select(GraphOutbox).order_by(GraphOutbox.id).limit(self.batch)
        rows = (await session.scalars(oldest)).all()
        await self._observe(session, rows)
        if not rows:
            return rows, []
        refs = list(dict.fromkeys(NodeRef(r.label, r.node_id) for r in rows))  # type: ignore[arg-type]
        return rows, await read_states(session, refs)

    async def _project(self, states: list[NodeState]) -> None:
        await self.breaker.call(
            lambda: call_with_retry(lambda: self.store.upsert(states), idempotent=True)
        )

    async def _observe(self, session: AsyncSession, rows: Sequence[GraphOutbox]) -> None:
        # A short batch is everything there is: an idle poll costs one query, not two.
        pending = len(rows)
        if pending >= self.batch:
            pending = await session.scalar(select(func.count()).select_from(GraphOutbox)) or 0
        PENDING.set(pending)
        QUEUE_DEPTH.labels("graph_outbox").set(pending)
        oldest = rows[0].created_at.timestamp() if rows else None
        LAG.set(max(0.0, time.time() - oldest) if oldest is not None else 0.0)

    async def status(self) -> dict[str, Any]:
        """For /healthz: what waits, how old the oldest is, and the breaker."""
        async with self.read_sessions() as session:
            pending = await session.scalar(select(func.count()).select_from(GraphOutbox)) or 0
            oldest = await session.scalar(select(func.min(GraphOutbox.created_at)))
        lag = max(0.0, time.time() - oldest.timestamp()) if oldest is not None else 0.0
        return {
            "store": self.store.name,
            "pending": pending,
            "lag_s": round(lag, 3),
            "breaker": self.breaker.snapshot()["state"],
        }


async def _delete(session: AsyncSession, rows: Sequence[GraphOutbox]) -> None:
    """Only the rows projected: rows appended meanwhile wait for the next round."""
    await session.execute(delete(GraphOutbox).where(GraphOutbox.id.in_([r.id for r in rows])))
    await session.commit()


async def _first_of(events: set[asyncio.Event], timeout_s: float) -> None:
    """Wait until one of `events` is set, at most `timeout_s`."""
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


async def _lead(session: AsyncSession) -> bool:
    """Whether this round may project: a transaction-scoped advisory lock, released with the
    round's transaction whatever happens."""
    return bool(await session.scalar(select(func.pg_try_advisory_xact_lock(LOCK_KEY))))
