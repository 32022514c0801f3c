"""Overload protection: shed load past a concurrency cap, and bound each request's time.

Past `CATALOG_MAX_IN_FLIGHT` concurrent requests a new one is answered 503 at once (with
`Retry-After`), so overload shows up as fast rejections instead of every request getting
slower. A request still running after `CATALOG_REQUEST_TIMEOUT_S` is cancelled and answered
503. `/livez` and `/metrics` are exempt: an overloaded process is alive and must be seen.
"""

from __future__ import annotations

import asyncio

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


class ProtectionMiddleware:
    def __init__(
        self, app: ASGIApp, *, max_in_flight: int, timeout_s: float, retry_after: int
    ) -> None:
        self.app = app
        self.max_in_flight = max_in_flight
        self.timeout_s = timeout_s
        self.retry_after = retry_after
        self.in_flight = 0

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
        try:
            async with asyncio.timeout(self.timeout_s):
                await self.app(scope, receive, watch)
        except TimeoutError:
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
        finally:
            self.in_flight -= 1
            IN_FLIGHT.dec()
