"""The response cache: cache-aside for hot reads, invalidated by the writes that change them.

See core.py (reads, single flight, early refresh, bypass), backends.py (Redis or in process,
scope tokens) and invalidation.py (which writes make which answers stale).
"""

from __future__ import annotations

import hashlib

import orjson
import redis.asyncio as aioredis

from catalog.cache.backends import Backend, MemoryBackend, RedisBackend
from catalog.cache.core import EVICTIONS, Cache, Uncacheable
from catalog.core.breaker import CircuitBreaker
from catalog.core.clock import Clock, SystemClock
from catalog.core.logging import get_logger
from catalog.settings import Settings

__all__ = ["Cache", "Uncacheable", "cache_key", "open_cache"]

log = get_logger(__name__)


def cache_key(*parts: object) -> str:
    """A short, stable key for an answer that depends on many parameters."""
    return hashlib.blake2b(orjson.dumps(parts), digest_size=12).hexdigest()


def _count_eviction(entry_key: str) -> None:
    # entry keys are "<scope>|<token>|<cache>:<key>"
    EVICTIONS.labels(entry_key.split("|", 2)[2].split(":", 1)[0]).inc()


def open_cache(
    settings: Settings, redis: aioredis.Redis | None, clock: Clock | None = None
) -> Cache:
    """Redis when configured, else this process; off when asked, or when several workers
    would each keep a private copy that the others' writes cannot invalidate."""
    clock = clock or SystemClock()
    longest_ttl = max(settings.redis_cache_ttl, settings.cache_list_ttl_s)
    backend: Backend | None = None
    breaker = None
    if not settings.cache_enabled:
        pass
    elif redis is not None:
        backend = RedisBackend(redis, token_ttl_s=2 * longest_ttl)
        # Failures and timeouts open it, not slowness: under a burst, calls look slow because
        # this process's event loop is busy, and bypassing Redis then would only add load.
        breaker = CircuitBreaker(
            "redis_cache", open_s=10.0, slow_call_rate=1.1, clock=clock.monotonic
        )
    elif settings.workers > 1:
        log.warning("cache_disabled", reason="several workers and no REDIS_URL to share it")
    else:
        backend = MemoryBackend(
            settings.cache_max_bytes, on_evict=_count_eviction, clock=clock.monotonic
        )
    return Cache(
        backend,
        ttl_s=settings.redis_cache_ttl,
        list_ttl_s=settings.cache_list_ttl_s,
        timeout_s=settings.cache_redis_timeout_ms / 1000,
        breaker=breaker,
        wall_clock=clock.time,
    )
