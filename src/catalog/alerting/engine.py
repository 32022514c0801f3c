"""The alert engine: evaluate the rules now and then, remember alerts, tell the sinks.

Runs in the background (never on a request's path). Every `ALERT_CHECK_INTERVAL_S` it asks
the rules what is wrong; a new condition fires an alert (stored in the `alerts` table and
counted in `catalog_alerts_total{alert_type}`), a vanished one resolves it. Alerts are
deduplicated by fingerprint: while one is firing the same condition does not fire again, and
the sinks hear of it again only after `CATALOG_ALERT_REPEAT_INTERVAL_S`.

Delivery state lives with the alert (`deliveries`: per sink, the last status it was told),
so a sink that is down simply has not been told yet: it is retried on every evaluation, behind
its circuit breaker, and is told exactly once when it comes back, if the alert is still
active (or the resolution, if it resolved meanwhile). Each replica evaluates its own traffic
and labels its alerts with `instance` (host:pid).
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import httpx
from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from catalog.alerting.repository import AlertRepository
from catalog.alerting.rules import Signal, evaluate
from catalog.alerting.schemas import Notification
from catalog.alerting.sinks import Sink, configured_sinks
from catalog.alerting.window import RequestWindow
from catalog.core.breaker import CircuitBreaker, CircuitOpen
from catalog.core.clock import Clock, SystemClock
from catalog.core.logging import get_logger
from catalog.core.tasks import stop_task
from catalog.db.models import Alert
from catalog.observability.metrics import QUEUE_DEPTH, flush_observations
from catalog.observability.tracing import instrument_httpx
from catalog.settings import Settings

log = get_logger(__name__)

ALERTS = Counter("catalog_alerts_total", "Alerts fired, by type", ("alert_type",))
DELIVERIES = Counter(
    "catalog_alert_deliveries_total", "Alert notifications by sink and outcome", ("sink", "outcome")
)
RESOLVED_DELIVERY_HORIZON = timedelta(days=1)


def this_instance() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class AlertEngine:
    def __init__(
        self,
        settings: Settings,
        sessions: async_sessionmaker[AsyncSession],
        *,
        http: httpx.AsyncClient | None = None,
        sinks: list[Sink] | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        clock = clock or SystemClock()
        self.now = clock.now  # alert start/end and repeat times, stored in the database
        self.window = RequestWindow(settings.alert_window_s, clock.monotonic)
        self.instance = this_instance()
        self._own_http = http is None
        self.http = http or httpx.AsyncClient(timeout=5.0)
        instrument_httpx(self.http)  # webhook URLs carry secrets: spans keep host and port only
        self.sinks = sinks if sinks is not None else configured_sinks(settings, self.http)
        self.breakers = {
            sink.name: CircuitBreaker(f"alert_sink_{sink.name}", open_s=30.0, clock=clock.monotonic)
            for sink in self.sinks
        }
        self.down_dependencies: Callable[[], Awaitable[list[str]]] | None = None
        self._task: asyncio.Task[None] | None = None

    def observe(self, route: str, status: int, duration_s: float) -> None:
        """Called for every answered request (cheap: one append)."""
        self.window.record(route, status, duration_s)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="alert-engine")

    async def stop(self) -> None:
        await stop_task(self._task)
        self._task = None
        if self._own_http:
            await self.http.aclose()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.settings.alert_check_interval_s)
            try:
                await self.evaluate_once()
            except Exception as exc:  # the engine must outlive a bad round (database down...)
                log.warning("alert_evaluation_failed", error=repr(exc)[:300])

    async def evaluate_once(self) -> None:
        flush_observations()  # requests recorded since the last batch count too
        down = await self.down_dependencies() if self.down_dependencies else []
        # A copy, walked in a thread: the rules' passes over the window would stall the loop.
        signals = await asyncio.to_thread(evaluate, self.window.snapshot(), self.settings, down)
        await self._record(signals)
        await self.deliver()

    async def _record(self, signals: dict[str, Signal]) -> None:
        now = self.now()
        async with self.sessions() as session, session.begin():
            rows = await AlertRepository(session).firing(self.instance)
            active = {alert.fingerprint: alert for alert in rows}
            for fingerprint, signal in signals.items():
                alert = active.get(fingerprint)
                if alert is not None:
                    alert.last_seen_at = now
                    alert.summary, alert.description = signal.summary, signal.description
                    continue
                session.add(
                    Alert(
                        fingerprint=fingerprint,
                        alert_type=signal.alert_type,
                        severity=signal.severity,
                        status="firing",
                        summary=signal.summary,
                        description=signal.description,
                        labels=signal.labels,
                        instance=self.instance,
                        starts_at=now,
                        last_seen_at=now,
                        deliveries={},
                    )
                )
                ALERTS.labels(signal.alert_type).inc()
                log.warning("alert_firing", alert_type=signal.alert_type, summary=signal.summary)
            for fingerprint, alert in active.items():
                if fingerprint not in signals:
                    alert.status, alert.ends_at = "resolved", now
                    log.info("alert_resolved", alert_type=alert.alert_type, summary=alert.summary)

    async def deliver(self) -> None:
        """Tell every sink what it has not been told yet (or again, after the repeat time)."""
        if not self.sinks:
            return
        now = self.now()
        repeat_before = now - timedelta(seconds=self.settings.alert_repeat_interval_s)
        async with self.sessions() as session, session.begin():
            alerts = await AlertRepository(session).deliverable(
                self.instance, now - RESOLVED_DELIVERY_HORIZON
            )
            undelivered = 0
            for alert in alerts:
                told = dict(alert.deliveries)
                for sink in self.sinks:
                    if not self._due(alert, told.get(sink.name), repeat_before):
                        continue
                    if await self._send(sink, alert):
                        told[sink.name] = alert.status
                        alert.last_notified_at = now
                    else:
                        undelivered += 1
                alert.deliveries = told  # a new dict: JSON columns track assignment
        QUEUE_DEPTH.labels("alert_deliveries").set(undelivered)

    @staticmethod
    def _due(alert: Alert, told: str | None, repeat_before: Any) -> bool:
        if alert.status == "resolved":
            return told == "firing"  # it heard of the firing, so it must hear of the end
        if told != "firing":
            return True
        return alert.last_notified_at is not None and alert.last_notified_at < repeat_before

    async def _send(self, sink: Sink, alert: Alert) -> bool:
        breaker = self.breakers[sink.name]
        try:
            await breaker.call(lambda: sink.send(Notification.model_validate(alert)))
        except CircuitOpen:
            DELIVERIES.labels(sink.name, "circuit_open").inc()
            return False
        except Exception as exc:  # the sink is down: kept as undelivered, retried next round
            DELIVERIES.labels(sink.name, "failed").inc()
            log.warning("alert_delivery_failed", sink=sink.name, error=repr(exc)[:200])
            return False
        DELIVERIES.labels(sink.name, "delivered").inc()
        return True
