"""The decision: Redis when configured and healthy, the process's own buckets otherwise.

Fail open, on purpose: when Redis errors or answers slower than its timeout, the request is
decided by this replica's local buckets (so a Redis outage never turns into an outage of the
catalog), the fallback is counted and logged, and Redis is tried again after a cool-down.
While it lasts, each replica enforces the limits on its own, so the whole fleet may admit up
to N times the global limit. Operators see it in `catalog_rate_limit_redis_fallback_total`
and `catalog_rate_limit_backend`.

The cool-down is the `redis_rate_limit` circuit breaker (core/breaker.py): half of the
last few decisions failing (at least 3) opens it for the cool-down, so one slow call (say, a
connection being opened under load) does not send the fleet to local limits; then one trial
decides whether it closes. Its state shows in `/healthz` and `catalog_circuit_breaker_state`
like every dependency's.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence

from prometheus_client import Counter, Gauge

from catalog.core.breaker import CircuitBreaker, CircuitOpen
from catalog.core.logging import get_logger
from catalog.ratelimit.buckets import Check, Decision
from catalog.ratelimit.local import LocalBuckets
from catalog.ratelimit.redis_buckets import RedisBuckets

log = get_logger(__name__)

FALLBACKS = Counter(
    "catalog_rate_limit_redis_fallback_total",
    "Rate-limit decisions made locally because Redis failed or was slow",
)
BACKEND = Gauge(
    "catalog_rate_limit_backend",
    "Where rate-limit decisions are made (1 = active)",
    ("backend",),
    multiprocess_mode="livemax",
)
IDLE_SWEEP_EVERY = 1000


class RateLimiter:
    def __init__(
        self,
        local: LocalBuckets,
        remote: RedisBuckets | None,
        *,
        timeout_s: float,
        cooldown_s: float = 5.0,
        idle_after_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.local = local
        self.remote = remote
        self.timeout_s = timeout_s
        self.cooldown_s = cooldown_s
        self.idle_after_s = idle_after_s
        self.breaker = CircuitBreaker(
            "redis_rate_limit",
            window=10,
            minimum_calls=3,
            failure_rate=0.5,
            slow_call_rate=1.1,  # too slow is a timeout, hence a failure
            open_s=cooldown_s,
            half_open_calls=1,
            clock=clock,
        )
        self._degraded = False
        self._decisions = 0
        self._mark("redis" if remote is not None else "local")

    async def decide(self, checks: Sequence[Check], consume: bool = True) -> Decision:
        self._decisions += 1
        if self._decisions % IDLE_SWEEP_EVERY == 0:
            self.local.forget_idle(self.idle_after_s)
        remote = self.remote
        if remote is not None:

            async def ask_redis() -> Decision:
                async with asyncio.timeout(self.timeout_s):
                    return await remote.decide(checks, consume)

            try:
                decision = await self.breaker.call(ask_redis)
            except CircuitOpen:  # cooling down: decide locally
                FALLBACKS.inc()
            except Exception as exc:  # Redis down or slow: decide locally, try again later
                FALLBACKS.inc()
                if not self._degraded:
                    self._degraded = True
                    log.warning("rate_limit_redis_fallback", error=repr(exc)[:200])
                    self._mark("local")
            else:
                if self._degraded:
                    self._degraded = False
                    self._mark("redis")
                    log.info("rate_limit_redis_recovered")
                return decision
        return self.local.decide(checks, consume)

    @staticmethod
    def _mark(active: str) -> None:
        for backend in ("redis", "local"):
            BACKEND.labels(backend).set(1 if backend == active else 0)
