"""The graph projection: follows the change log and makes the graph store hold what it names.

Each round takes the next `batch` changes after the projection's position (a durable row in
`change_log_positions`, named `graph`), reads the named nodes' current state from the catalog
tables (graph/snapshot.py), makes the graph hold exactly that (MERGE, so repeating a round is
harmless) and only then moves the position. A graph outage therefore only delays the
projection: the changes wait in the log, the worker backs off (retries with full jitter inside
a round, the `graph` circuit breaker across rounds) and catches up when the graph returns.
A projection that fell behind the retained log (its position below the prune horizon, say
after a graph outage longer than CATALOG_CHANGE_LOG_RETENTION_S) replays every node instead
(graph/rebuild.py) and goes on from where the log stood when the replay began.

With several replicas, one worker at a time projects: on PostgreSQL a round runs in one
transaction holding an advisory lock (a second replica skips the round), so an older read of a
node never overwrites a newer one. On SQLite a round reads in a read transaction and takes the
database's single write lock only to move the position, never across the graph call (an idle
poll takes no lock at all); SQLite serves one node, so at most its own processes race, and a
race only delays convergence until the node's next change (or `catalog graph rebuild`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import Counter, Gauge
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from catalog.changes.repository import Change, ChangeLogRepository
from catalog.core.breaker import CircuitBreaker
from catalog.core.clock import Clock, SystemClock
from catalog.core.logging import get_logger
from catalog.core.retry import call_with_retry
from catalog.core.tasks import RoundLoop
from catalog.graph.model import NodeState
from catalog.graph.rebuild import rebuild
from catalog.graph.snapshot import read_states
from catalog.graph.store import GraphStore
from catalog.observability.metrics import QUEUE_DEPTH
from catalog.settings import Settings

log = get_logger(__name__)

PENDING = Gauge(
    "catalog_graph_outbox_pending",
    "Changes not yet projected into the graph store",
    multiprocess_mode="livemax",
)
LAG = Gauge(
    "catalog_graph_outbox_lag_seconds",
    "Age of the oldest change not yet projected",
    multiprocess_mode="livemax",
)
PROJECTED = Counter(
    "catalog_graph_projected_total", "Changes projected into the graph store", ("outcome",)
)
LOCK_KEY = 0x6772617068  # "graph": the advisory lock of the projecting worker
CONSUMER = "graph"  # the projection's row in change_log_positions
MAX_BACKOFF_S = 30.0


@dataclass
class _Round:
    since: int  # the position before the round
    to: int  # the position after it
    changes: list[Change] = field(default_factory=list)
    states: list[NodeState] = field(default_factory=list)
    replay: bool = False  # behind the retained log: replay every node


class OutboxWorker(RoundLoop):
    name = "graph_outbox"

    def __init__(
        self,
        store: GraphStore,
        sessions: async_sessionmaker[AsyncSession],
        *,
        batch: int,
        interval_s: float,
        postgres: bool,
        read_sessions: async_sessionmaker[AsyncSession] | None = None,
        clock: Clock | None = None,
    ) -> None:
        # The pause between rounds: the interval, doubled per consecutive failure (RoundLoop).
        super().__init__(batch=batch, interval_s=interval_s, max_backoff_s=MAX_BACKOFF_S)
        self.store = store
        self.sessions = sessions
        # Reads that need no lock (SQLite's write sessions take its one write lock at BEGIN).
        self.read_sessions = read_sessions or sessions
        self.postgres = postgres
        # Guards every call into the graph database, the API's reads included (graph/service.py).
        self.breaker = CircuitBreaker(
            "graph", open_s=10.0, clock=(clock or SystemClock()).monotonic
        )

    @classmethod
    def configured(
        cls,
        store: GraphStore,
        sessions: async_sessionmaker[AsyncSession],
        settings: Settings,
        *,
        postgres: bool,
        read_sessions: async_sessionmaker[AsyncSession] | None = None,
        clock: Clock | None = None,
    ) -> OutboxWorker:
        """The worker as CATALOG_GRAPH_OUTBOX_* configure it."""
        return cls(
            store,
            sessions,
            batch=settings.graph_outbox_batch,
            interval_s=settings.graph_outbox_interval_s,
            postgres=postgres,
            read_sessions=read_sessions,
            clock=clock,
        )

    def round_failed(self, error: Exception, failures: int) -> None:
        # The graph is down: the changes wait in the log, nothing is lost.
        PROJECTED.labels("failed").inc()
        log.warning("graph_projection_failed", error=repr(error)[:300], failures=failures)

    async def run_once(self) -> int:
        """One round; the number of changes projected (or of nodes replayed)."""
        if self.postgres:
            # One transaction holding the advisory lock from the read to the position's move.
            async with self.sessions() as session:
                if not await ChangeLogRepository(session).lead(LOCK_KEY):
                    return 0  # another replica's round is running
                round_ = await self._next(session)
                done = await self._project(round_)
                await ChangeLogRepository(session).move(CONSUMER, round_.to)
                await session.commit()
        else:
            # SQLite: read without the write lock, never hold it over the graph call, and
            # take it only to move the position.
            async with self.read_sessions() as session:
                round_ = await self._next(session)
            done = await self._project(round_)
            if round_.to > round_.since:
                async with self.sessions() as session:
                    await ChangeLogRepository(session).move(CONSUMER, round_.to)
                    await session.commit()
        if done:
            PROJECTED.labels("projected").inc(done)
        return done

    async def _next(self, session: AsyncSession) -> _Round:
        """What this round must do: the next changes and their nodes' state, or a replay."""
        changes_log = ChangeLogRepository(session)
        since = await changes_log.position(CONSUMER) or 0
        if since < await changes_log.horizon():
            # Changes this projection never saw were pruned: only a replay can catch up.
            return _Round(since, await changes_log.latest(), replay=True)
        changes = await changes_log.after(since, self.batch)
        await self._observe(changes_log, since, changes)
        if not changes:
            return _Round(since, since)
        refs = list(dict.fromkeys(change.ref for change in changes))
        return _Round(since, changes[-1].id, changes, await read_states(session, refs))

    async def _project(self, round_: _Round) -> int:
        if round_.replay:
            log.warning("graph_projection_replay", position=round_.since, replay_to=round_.to)
            counts = await self.breaker.call(lambda: rebuild(self.store, self.read_sessions))
            return sum(counts.values())
        if round_.states:
            states = round_.states
            await self.breaker.call(
                lambda: call_with_retry(lambda: self.store.upsert(states), idempotent=True)
            )
        return len(round_.changes)

    async def _observe(
        self, changes_log: ChangeLogRepository, since: int, changes: list[Change]
    ) -> None:
        # A short batch is everything there is: an idle poll costs one query, not two.
        pending = len(changes)
        if pending >= self.batch:
            pending, _oldest = await changes_log.pending(since)
        PENDING.set(pending)
        QUEUE_DEPTH.labels("graph_outbox").set(pending)
        oldest = changes[0].created_at.timestamp() if changes else None
        LAG.set(max(0.0, time.time() - oldest) if oldest is not None else 0.0)

    async def status(self) -> dict[str, Any]:
        """For /healthz: the position, what waits, how old the oldest is, and the breaker."""
        async with self.read_sessions() as session:
            changes_log = ChangeLogRepository(session)
            position = await changes_log.position(CONSUMER) or 0
            pending, oldest = await changes_log.pending(position)
        lag = max(0.0, time.time() - oldest.timestamp()) if oldest is not None else 0.0
        return {
            "store": self.store.name,
            "position": position,
            "pending": pending,
            "lag_s": round(lag, 3),
            "breaker": self.breaker.snapshot()["state"],
        }
