"""Overload protection: shed load past a concurrency cap, and bound each request's time.

Past `CATALOG_MAX_IN_FLIGHT` concurrent requests a new one is answered 503 at once (with
`Retry-After`), so overload shows up as fast rejections instead of every request getting
slower. A request still running after `CATALOG_REQUEST_TIMEOUT_S` is cancelled and answered
503. `/livez` and `/metrics` are exempt: an overloaded process is alive and must be seen.

Deadlines are kept by one watcher task per loop that wakes every quarter of the timeout (at
most every second) and cancels the requests past theirs, the way `asyncio.timeout` cancels
its task, instead of a loop timer scheduled and cancelled for every request (`asyncio.timeout`
costs ~11 µs a request here, and its cancelled timers pile up in the loop's heap under load).
The price is precision: a request is cancelled between its deadline and a tick after it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from prometheus_client import Counter, Gauge
from starlette.types import ASGIApp, Receive, Scope, Send

from catalog.core.errors import ServiceUnavailable, send_error
from catalog.core.logging import get_logger
from catalog.server.response_started import StartWatch

log = get_logger(__name__)

IN_FLIGHT = Gauge(
    "catalog_in_flight_requests", "Requests being handled now", multiprocess_mode="livesum"
)
SHED = Counter("catalog_load_shed_total", "Requests refused because too many were in flight")
TIMEOUTS = Counter("catalog_request_timeouts_total", "Requests cancelled by the handler timeout")
EXEMPT = frozenset({"/livez", "/metrics"})


class _Request:
    __slots__ = ("deadline", "expired")

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.expired = False


class _Deadlines:
    """The requests running now (by the task running each) and the watcher that cancels the
    ones past their deadline."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self.tick_s = min(timeout_s / 4, 1.0)
        self.running: dict[asyncio.Task[Any], _Request] = {}
        self._watcher: asyncio.Task[None] | None = None

    def start(self, task: asyncio.Task[Any]) -> tuple[_Request, _Request | None]:
        """The request's deadline, and the one it replaces (a request made from inside
        another, in the same task), to be put back by `end`."""
        loop = task.get_loop()
        request = _Request(loop.time() + self.timeout_s)
        outer = self.running.get(task)
        self.running[task] = request
        watcher = self._watcher
        if watcher is None or watcher.done() or watcher.get_loop() is not loop:
            self._watcher = loop.create_task(self._watch(), name="request-deadlines")
        return request, outer

    def end(self, task: asyncio.Task[Any], outer: _Request | None) -> None:
        if outer is None:
            self.running.pop(task, None)
        else:
            self.running[task] = outer

    async def _watch(self) -> None:
        """Runs while requests do (a quiet process has no watcher waking it)."""
        loop = asyncio.get_running_loop()
        running = self.running
        while running:
            await asyncio.sleep(self.tick_s)
            now = loop.time()
            for task, request in list(running.items()):
                if now >= request.deadline and not request.expired and task.get_loop() is loop:
                    request.expired = True
                    task.cancel()


class ProtectionMiddleware:
    def __init__(
        self, app: ASGIApp, *, max_in_flight: int, timeout_s: float, retry_after: int
    ) -> None:
        self.app = app
        self.max_in_flight = max_in_flight
        self.timeout_s = timeout_s
        self.retry_after = retry_after
        self.in_flight = 0
        self.deadlines = _Deadlines(timeout_s)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in EXEMPT:
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.max_in_flight:
            SHED.inc()
            await send_error(
                scope,
                send,
                ServiceUnavailable(
                    f"overloaded: {self.in_flight} requests in flight", retry_after=1
                ),
            )
            return
        self.in_flight += 1
        IN_FLIGHT.inc()
        watch = StartWatch(send)
        task = asyncio.current_task()
        assert task is not None
        cancelling = task.cancelling()  # cancellations asked for before this request's own
        request, outer = self.deadlines.start(task)
        taken_back = False  # our cancellation (the deadline's) is counted back
        try:
            await self.app(scope, receive, watch)
        except asyncio.CancelledError:
            if not request.expired:
                raise
            taken_back = True
            if task.uncancel() > cancelling:
                raise  # someone else asked too (shutdown, a client gone): theirs goes on
            await self._timed_out(scope, send, watch)
        finally:
            if request.expired and not taken_back:
                task.uncancel()  # the handler swallowed it and answered, or failed otherwise
            self.deadlines.end(task, outer)
            self.in_flight -= 1
            IN_FLIGHT.dec()

    async def _timed_out(self, scope: Scope, send: Send, watch: StartWatch) -> None:
        TIMEOUTS.inc()
        log.warning("request_timeout", path=scope["path"], timeout_s=self.timeout_s)
        if not watch.started:
            await send_error(
                scope,
                send,
                ServiceUnavailable(
                    f"the request took longer than {self.timeout_s:g}s",
                    retry_after=self.retry_after,
                ),
            )
