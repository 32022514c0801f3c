"""Applying received OpenLineage events to the catalog, in the background, in batches.

`POST /api/v1/lineage` only validates an event and keeps it (one row); this applier turns
the kept events into products, schemas and lineage (service.py's `apply`). Keeping and
applying are apart because a pipeline platform sends events in bursts (every task of every
DAG, START and COMPLETE) and must not wait on the catalog's bookkeeping: the intake answers
in the time of one INSERT. A round reads what the catalog holds for all its events at once
(known.py), so the common event, a job's run restating the datasets, schema and column
lineage of its last run, costs no query of its own.

One applier at a time, in the order events arrived: on PostgreSQL a round runs in one
transaction holding an advisory lock (another worker or replica skips the round); SQLite has
one writer anyway. Each event is applied in a savepoint: one that fails (a dataset whose
schema the registry refuses, say) is marked `failed` with the reason and the round goes on;
nothing is lost, the raw event stays. A round that fails as a whole (the database went away)
is retried at the next one, with the events still pending. Lag: from receipt to applied is
one round when idle (its own process's events wake it at once; other processes' within
CATALOG_LINEAGE_APPLY_INTERVAL_S).
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import Counter, Gauge
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from catalog.changes.recorder import take_appended
from catalog.core.clock import Clock, SystemClock
from catalog.core.errors import CatalogError
from catalog.core.logging import get_logger
from catalog.core.tasks import RoundLoop
from catalog.db.models import LineageEventRecord
from catalog.identity.principal import Actor, Principal
from catalog.observability.tracing import untraced
from catalog.openlineage.known import Known
from catalog.openlineage.repository import LineageEventRepository
from catalog.openlineage.service import UNPRODUCTIVE, LineageIntake, refs_of
from catalog.openlineage.spec import LineageEvent, parse_event
from catalog.settings import Settings

log = get_logger(__name__)

APPLIED = Counter(
    "catalog_lineage_events_applied_total",
    "OpenLineage events applied to the catalog, by outcome (applied, kept: a FAIL or ABORT "
    "run, failed: refused, with the reason on the event)",
    ("outcome",),
)
PENDING = Gauge(
    "catalog_lineage_events_pending",
    "OpenLineage events received and not yet applied",
    multiprocess_mode="livemax",
)
LOCK_KEY = 0x6C696E656167  # "lineag": the advisory lock of the applying worker
ERROR_MAX = 1000


class LineageApplier(RoundLoop):
    name = "lineage_applier"

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        batch: int,
        interval_s: float,
        postgres: bool,
        changes_committed: Callable[[], None] = lambda: None,
        clock: Clock | None = None,
        read_sessions: async_sessionmaker[AsyncSession] | None = None,
    ) -> None:
        super().__init__(batch=batch, interval_s=interval_s)
        self.sessions = sessions
        # SQLite's write sessions take its one write lock at BEGIN: an idle poll reads first.
        self.read_sessions = read_sessions or sessions
        self.postgres = postgres
        self.changes_committed = changes_committed
        self.clock = clock or SystemClock()

    @classmethod
    def configured(
        cls,
        sessions: async_sessionmaker[AsyncSession],
        settings: Settings,
        *,
        postgres: bool,
        changes_committed: Callable[[], None],
        clock: Clock,
        read_sessions: async_sessionmaker[AsyncSession],
    ) -> LineageApplier:
        """The applier as CATALOG_LINEAGE_APPLY_* configure it."""
        return cls(
            sessions,
            batch=settings.lineage_apply_batch,
            interval_s=settings.lineage_apply_interval_s,
            postgres=postgres,
            changes_committed=changes_committed,
            clock=clock,
            read_sessions=read_sessions,
        )

    async def _run(self) -> None:
        with untraced():  # a poll every second is no trace worth keeping (as the search index)
            await super()._run()

    async def run_once(self) -> int:
        """One round: the next pending events, applied in arrival order; how many."""
        if not self.postgres:
            async with self.read_sessions() as session:
                if not await LineageEventRepository(session).count_pending():
                    PENDING.set(0)
                    return 0  # idle: no write lock taken
        async with self.sessions() as session:
            events = LineageEventRepository(session)
            if self.postgres and not await events.lead(LOCK_KEY):
                return 0  # another worker's round is running
            pending = await events.pending(self.batch)
            if not pending:
                PENDING.set(0)
                return 0
            outcomes = await self._apply(session, pending)
            PENDING.set(await events.count_pending())
            await session.commit()
            if take_appended(session):
                self.changes_committed()
        for outcome in outcomes:
            APPLIED.labels(outcome).inc()
        return len(pending)

    async def _apply(self, session: AsyncSession, pending: list[LineageEventRecord]) -> list[str]:
        """Apply each event in order (what the round knows makes a repeat cost no query);
        mark every one."""
        outcomes = []
        now = self.clock.now()
        events = [parse_event(record.payload) for record in pending]
        known = await Known.read(session, set().union(*map(refs_of, events)))
        for record, event in zip(pending, events, strict=True):
            record.outcome, record.error = await _apply_one(session, record, event, known)
            record.applied_at = now
            outcomes.append(record.outcome)
        await session.flush()
        return outcomes


async def _apply_one(
    session: AsyncSession, record: LineageEventRecord, event: LineageEvent, known: Known
) -> tuple[str, str]:
    if event.event_type in UNPRODUCTIVE:
        return "kept", ""
    sender = Actor(
        Principal(
            subject=record.received_by or "openlineage",
            role="editor",
            team=record.received_team,
            kind="openlineage",
        )
    )
    try:
        await LineageIntake(session, sender).apply(event, known)
    except CatalogError as error:
        log.warning("lineage_event_refused", event_id=record.id, error=error.details[:300])
        return "failed", error.details[:ERROR_MAX]
    return "applied", ""
