"""The notification worker: fans catalog events out to deliveries and sends them.

Each round, in the background of every `catalog serve` worker:

1. **Fan-out** (one worker at a time: a PostgreSQL advisory lock; SQLite has one writer):
   the events after the fan-out's position (`notifications` in change_log_positions, by
   `seq`), matched to subscriptions (audience.py), become one pending delivery row each, and
   the position moves, in one transaction: an event is fanned out exactly once.
2. **Delivery** (every worker, sharing the load): due deliveries are claimed with a lease
   (repository.py), sent concurrently (CATALOG_NOTIFY_CONCURRENCY) behind a circuit breaker
   per endpoint, and settled: delivered; or retried (timeouts, connection errors, 5xx, 408,
   429) after 1 s doubling to 10 minutes with jitter, until the event is
   CATALOG_NOTIFY_MAX_AGE_S old; or dead-lettered at once (another 4xx, an address the SSRF
   guard refuses, no SMTP server). An open breaker defers its endpoint's deliveries without
   spending an attempt. `POST /api/subscriptions/{id}/replay` queues dead ones again.
3. **Housekeeping**, every 30 s: `access_request.expiring` for grants ending within
   CATALOG_NOTIFY_EXPIRING_DAYS, the backlog gauge, and the prune of events (with their
   deliveries) older than CATALOG_NOTIFY_RETENTION_S that have been fanned out.

At least once: a delivery is marked delivered only after the receiver's 2xx. A worker killed
between the two leaves the delivery leased; when the lease (CATALOG_NOTIFY_LEASE_S) runs out
another worker sends it again, with the same event id for the receiver to deduplicate.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

import httpx
from prometheus_client import Counter, Gauge, Histogram
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from catalog.access.service import AccessService
from catalog.changes.recorder import take_appended
from catalog.changes.repository import ChangeLogRepository
from catalog.core.breaker import CircuitBreaker, CircuitOpen
from catalog.core.clock import Clock, SystemClock
from catalog.core.logging import get_logger
from catalog.core.retry import Backoff
from catalog.core.tasks import RoundLoop
from catalog.db.models import CatalogEvent, Subscription
from catalog.identity.principal import SYSTEM
from catalog.notify.audience import audience
from catalog.notify.channels import Channels, Permanent, endpoint_of
from catalog.notify.repository import (
    CONSUMER,
    Claimed,
    DeliveryRepository,
    EventRepository,
    Outcome,
    SubscriptionRepository,
)
from catalog.observability.tracing import instrument_httpx, untraced
from catalog.settings import Settings

log = get_logger(__name__)

NOTIFICATIONS = Counter(
    "catalog_notifications_total",
    "Notification sends by channel and outcome (delivered, retried: failed and due again, "
    "dead: dead-lettered, deferred: its endpoint's circuit breaker was open)",
    ("channel", "outcome"),
)
LAG = Histogram(
    "catalog_notification_lag_seconds",
    "From the event's commit to its delivery's 2xx",
    ("channel",),
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 1800, 3600, 86400),
)
BACKLOG = Gauge(
    "catalog_notifications_backlog",
    "Deliveries due and not delivered yet",
    multiprocess_mode="livemax",
)
LOCK_KEY = 0x6E6F74696679  # "notify": the advisory lock of the fanning-out worker
RETRY = Backoff(1.0, 600.0)
HOUSEKEEPING_S = 30.0
# A commit wakes the worker; the commits of the next 50 ms share its round (at 100 writes/s a
# round per commit cost the writes themselves 2.5x their time, measured: bench/README.md).
GATHER_S = 0.05
MAX_ERROR = 1000


class Dispatcher(RoundLoop):
    name = "notify_dispatcher"

    def __init__(
        self,
        settings: Settings,
        sessions: async_sessionmaker[AsyncSession],
        *,
        read_sessions: async_sessionmaker[AsyncSession] | None = None,
        postgres: bool,
        clock: Clock | None = None,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        super().__init__(
            batch=settings.notify_batch,
            interval_s=settings.notify_interval_s,
            gather_s=GATHER_S,
        )
        self.settings = settings
        self.sessions = sessions
        # SQLite's write sessions take its one write lock at BEGIN: an idle poll reads first.
        self.read_sessions = read_sessions or sessions
        self.postgres = postgres
        self.clock = clock or SystemClock()
        self.http = http or httpx.AsyncClient(follow_redirects=False)
        instrument_httpx(self.http)  # spans keep host and port only: URLs may carry tokens
        self.channels = Channels(settings, self.http)
        self.breakers: dict[str, CircuitBreaker] = {}
        self._limit = asyncio.Semaphore(settings.notify_concurrency)
        self._housekept_at: float | None = None
        self.changes_committed: Callable[[], None] = lambda: None  # Resources: wake projections

    async def _run(self) -> None:
        with untraced():  # a poll twice a second is no trace worth keeping
            await super()._run()

    async def stop(self) -> None:
        await super().stop()
        await self.http.aclose()

    async def run_once(self) -> int:
        await self._housekeep_if_due()
        new_events, due = await self._work_waiting()
        fanned = await self.fan_out() if new_events else 0
        sent = await self.deliver() if (due or fanned) else 0
        return max(fanned, sent)

    async def _work_waiting(self) -> tuple[bool, bool]:
        """(new events to fan out, deliveries due), read without a write lock (SQLite's is
        taken at BEGIN of a write session: an idle poll must not take it)."""
        async with self.read_sessions() as session:
            position = await ChangeLogRepository(session).position(CONSUMER) or 0
            new_events = await EventRepository(session).newest() > position
            due = await DeliveryRepository(session).due_exists(self.clock.now())
            return new_events, due

    async def fan_out(self) -> int:
        """Make the deliveries of the next events; how many events."""
        async with self.sessions() as session:
            if self.postgres and not await EventRepository(session).lead(LOCK_KEY):
                return 0  # another worker is fanning out
            changes = ChangeLogRepository(session)
            position = await changes.position(CONSUMER) or 0
            events = await EventRepository(session).after(position, self.batch)
            if not events:
                return 0
            subscriptions = await SubscriptionRepository(session).every()
            rows = await _deliveries(session, events, subscriptions, self.clock.now())
            await DeliveryRepository(session).fan_out(rows)
            await changes.move(CONSUMER, events[-1].seq)
            await session.commit()
        return len(events)

    async def deliver(self) -> int:
        """Claim the due deliveries, send them, record how it went; how many."""
        now = self.clock.now()
        lease_until = now + timedelta(seconds=self.settings.notify_lease_s)
        async with self.sessions() as session:
            claimed = await DeliveryRepository(session).claim(now, lease_until, self.batch)
            await session.commit()
        if not claimed:
            return 0
        outcomes = await asyncio.gather(*(self._send(one) for one in claimed))
        async with self.sessions() as session:
            await DeliveryRepository(session).settle(list(outcomes), lease_until)
            await session.commit()
        return len(claimed)

    async def _send(self, claimed: Claimed) -> Outcome:
        subscription, event = claimed.subscription, claimed.event
        channel = subscription.channel
        breaker = self._breaker(endpoint_of(subscription))

        async def attempt() -> int | Permanent | None:
            try:
                return await self.channels.send(subscription, event, self.clock.time())
            except Permanent as refused:  # the endpoint answered: not a failure of its health
                return refused

        async with self._limit:
            try:
                result = await breaker.call(attempt)
            except CircuitOpen as open_:
                NOTIFICATIONS.labels(channel, "deferred").inc()
                later = self.clock.now() + timedelta(seconds=max(open_.retry_in_s, 1.0))
                return _outcome(claimed, "pending", claimed.attempts, later, None, str(open_))
            except Exception as error:  # transient: timeouts, refused connections, 5xx
                return self._failed(claimed, error)
        now = self.clock.now()
        if isinstance(result, Permanent):
            NOTIFICATIONS.labels(channel, "dead").inc()
            log.warning("notification_dead", delivery=claimed.delivery_id, error=str(result)[:300])
            return _outcome(claimed, "dead", claimed.attempts + 1, now, result.status, str(result))
        NOTIFICATIONS.labels(channel, "delivered").inc()
        LAG.labels(channel).observe(max(0.0, (now - event.created_at).total_seconds()))
        return _outcome(claimed, "delivered", claimed.attempts + 1, now, result, "", now)

    def _failed(self, claimed: Claimed, error: Exception) -> Outcome:
        channel = claimed.subscription.channel
        now = self.clock.now()
        attempts = claimed.attempts + 1
        status = getattr(error, "status", None)
        reason = str(error) or repr(error)
        age = (now - claimed.event.created_at).total_seconds()
        if age >= self.settings.notify_max_age_s:
            NOTIFICATIONS.labels(channel, "dead").inc()
            log.warning("notification_dead", delivery=claimed.delivery_id, error=reason[:300])
            return _outcome(claimed, "dead", attempts, now, status, reason)
        NOTIFICATIONS.labels(channel, "retried").inc()
        pause = RETRY.pause_s(attempts) * random.uniform(0.5, 1.0)  # noqa: S311 - jitter
        later = now + timedelta(seconds=pause)
        return _outcome(claimed, "pending", attempts, later, status, reason)

    def _breaker(self, endpoint: str) -> CircuitBreaker:
        breaker = self.breakers.get(endpoint)
        if breaker is None:
            breaker = CircuitBreaker(
                f"notify_{endpoint}",
                slow_call_s=self.settings.notify_timeout_s,
                open_s=30.0,
                clock=self.clock.monotonic,
            )
            self.breakers[endpoint] = breaker
        return breaker

    async def _housekeep_if_due(self) -> None:
        moment = self.clock.monotonic()
        if self._housekept_at is not None and moment - self._housekept_at < HOUSEKEEPING_S:
            return
        self._housekept_at = moment
        await self.housekeep()

    async def housekeep(self) -> None:
        """Announce expiring grants, refresh the backlog gauge, prune old events."""
        now = self.clock.now()
        horizon = now + timedelta(days=self.settings.notify_expiring_days)
        retention = timedelta(seconds=self.settings.notify_retention_s)
        async with self.sessions() as session:
            announced = await AccessService(session, SYSTEM).announce_expiring(
                now, horizon, self.batch
            )
            fanned_out = await ChangeLogRepository(session).position(CONSUMER) or 0
            pruned = await EventRepository(session).prune(now - retention, fanned_out)
            BACKLOG.set((await DeliveryRepository(session).backlog(now))[0])
            await session.commit()
            if take_appended(session):
                self.changes_committed()
        if announced or pruned:
            log.info("notifications_housekept", expiring_announced=announced, pruned=pruned)
            self.wake()


async def _deliveries(
    session: AsyncSession,
    events: Sequence[CatalogEvent],
    subscriptions: Sequence[Subscription],
    now: datetime,
) -> list[dict[str, object]]:
    """The delivery rows of these events: one per subscription each reaches."""
    tags: dict[str, set[str]] = {}
    if any(s.tag_id for s in subscriptions):
        products = {e.product_id for e in events if e.product_id}
        tags = await SubscriptionRepository(session).tags_above(products)
    return [
        {"subscription_id": s.id, "event_seq": event.seq, "next_attempt_at": now}
        for event in events
        for s in audience(event, subscriptions, tags.get(event.product_id or "", set()))
    ]


def _outcome(
    claimed: Claimed,
    status: str,
    attempts: int,
    next_attempt_at: datetime,
    last_status: int | None,
    error: str,
    delivered_at: datetime | None = None,
) -> Outcome:
    return Outcome(
        claimed.delivery_id,
        status,
        attempts,
        next_attempt_at,
        last_status,
        error[:MAX_ERROR],
        delivered_at,
    )
