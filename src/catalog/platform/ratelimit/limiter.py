"""The decision: Redis when configured and healthy, the process's own buckets otherwise.

Fail open, on purpose: when Redis errors or answers slower than its timeout, the request is
decided by this replica's local buckets (so a Redis outage never turns into an outage of the
catalog), the fallback is counted and logged, and Redis is tried again after a cool-down.
While it lasts, each replica enforces the limits on its own, so the whole fleet may admit up
to N times the global limit. Operators see it in `catalog_rate_limit_redis_fallback_total`
and `catalog_rate_limit_backend`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from prometheus_client import Counter, Gauge

from catalog.platform.logging import get_logger
from catalog.platform.ratelimit.buckets import Check, Decision
from catalog.platform.ratelimit.local import LocalBuckets
from catalog.platform.ratelimit.redis_buckets import RedisBuckets

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
    ) -> None:
        self.local = local
        self.remote = remote
        self.timeout_s = timeout_s
        self.cooldown_s = cooldown_s
        self.idle_after_s = idle_after_s
        self._remote_retry_at = 0.0
        self._degraded = False
        self._decisions = 0
        self._mark("redis" if remote is not None else "local")

    async def decide(self, checks: Sequence[Check], consume: bool = True) -> Decision:
        self._decisions += 1
        if self._decisions % IDLE_SWEEP_EVERY == 0:
            self.local.forget_idle(self.idle_after_s)
        if self.remote is not None and time.monotonic() >= self._remote_retry_at:
            try:
                async with asyncio.timeout(self.timeout_s):
                    decision = await self.remote.decide(checks, consume)
                if self._degraded:
                    self._degraded = False
                    self._mark("redis")
                    log.info("rate_limit_redis_recovered")
                return decision
            except Exception as exc:  # Redis down or slow: decide locally, try again later
                FALLBACKS.inc()
                if not self._degraded:
                    self._degraded = True
                    log.warning("rate_limit_redis_fallback", error=repr(exc)[:200])
                    self._mark("local")
                self._remote_retry_at = time.monotonic() + self.cooldown_s
        elif self.remote is not None:
            FALLBACKS.inc()
        return self.local.decide(checks, consume)

    @staticmethod
    def _mark(active: str) -> None:
        for backend in ("redis", "local"):
            BACKEND.labels(backend).set(1 if backend == active else 0)
