"""Cache-aside for hot reads: one `fetch` for every cached answer, one `retire` per write.

`fetch(cache, scope, key, load)` answers the bytes cached for `key`, or runs `load` (the
database read, rendered to the answer's JSON bytes) and keeps what it returns for its TTL:

- **Single flight**: concurrent misses of one entry in this process share one `load`.
- **Early refresh** (probabilistic, "XFetch"): shortly before an entry expires, a request
  now and then reloads it while the others keep being served, so a hot entry does not expire
  under load and send every request to the database at once. The closer the expiry and the
  slower the load, the likelier a refresh.
- **Redis trouble is never an error**: a read or write that fails, times out or meets the
  open circuit breaker goes to the database instead (counted as a bypass).
- **Invalidation** (`retire`, called after the write's commit and before its answer) gives
  the write's scopes new tokens (see backends.py). If Redis cannot be told, this process
  stops using those scopes and keeps retrying every second; until then other replicas may
  serve the old entry, at most until it expires (README, "Caching").

Hand-written rather than cashews/aiocache: the invalidation model (scope tokens retired after
the database commit, one Redis round trip per read), the breaker and the bypass accounting are
most of the work and none of those libraries does them; the in-process store is cachetools.
"""

from __future__ import annotations

import asyncio
import math
import random
import struct
import time
from collections.abc import Awaitable, Callable, Collection
from functools import partial
from typing import Any

from prometheus_client import Counter
from redis.exceptions import RedisError

from catalog.cache.backends import Backend
from catalog.core.breaker import CircuitBreaker, CircuitOpen
from catalog.core.logging import get_logger
from catalog.core.tasks import stop_task

log = get_logger(__name__)

HITS = Counter("catalog_cache_hits_total", "Answers served from the cache", ("cache",))
MISSES = Counter("catalog_cache_misses_total", "Answers loaded and stored", ("cache",))
EVICTIONS = Counter(
    "catalog_cache_evictions_total", "Entries dropped to make room (in-process)", ("cache",)
)
BYPASSES = Counter(
    "catalog_cache_bypass_total",
    "Answers loaded from the database because the cache could not be used",
    ("cache", "reason"),
)
EARLY_REFRESHES = Counter(
    "catalog_cache_early_refresh_total", "Entries reloaded before they expired", ("cache",)
)
COALESCED = Counter(
    "catalog_cache_coalesced_total", "Misses that waited for another request's load", ("cache",)
)
INVALIDATIONS = Counter(
    "catalog_cache_invalidations_total", "Scope invalidations after writes", ("outcome",)
)

_HEADER = struct.Struct("!dd")  # expires at (epoch seconds), load duration (seconds)
RETRY_INTERVAL_S = 1.0
FLIGHT_GRACE_S = 1.0  # how long a landed load stays joinable (see _load_once)

Load = Callable[[], Awaitable[bytes]]


class Uncacheable(Exception):
    """Raised by a loader whose answer is right for this request but must not be kept."""

    def __init__(self, body: bytes) -> None:
        super().__init__("answer not cacheable")
        self.body = body


class _Flight:
    """One load in progress, awaited by every concurrent miss of the same entry.

    `token` is the scope token the loader read (None when Redis could not be asked) and
    `writes` this process's write count when it started: a request joins a flight only if
    it could not have seen a newer state itself (the same token; or, for a request that
    could not ask Redis, no write in this process since the flight started)."""

    def __init__(self, token: str | None, writes: int) -> None:
        self.token = token
        self.writes = writes
        self.done: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        # An exception nobody else awaited must not be reported as "never retrieved".
        self.done.add_done_callback(lambda f: f.cancelled() or f.exception())


class Cache:
    def __init__(
        self,
        backend: Backend | None,
        *,
        ttl_s: float,
        list_ttl_s: float,
        timeout_s: float,
        early_beta: float = 1.0,
        breaker: CircuitBreaker | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.backend = backend
        # Expiry is a wall-clock moment: it is stored in Redis and read by every replica.
        self._wall_clock = wall_clock
        self.ttl_s = ttl_s
        self.list_ttl_s = list_ttl_s
        self.timeout_s = timeout_s
        self.early_beta = early_beta
        self.breaker = breaker
        self._flights: dict[str, _Flight] = {}
        self._unretired: set[str] = set()
        self._writes = 0  # writes committed by this process (see the bypass in fetch)
        self._retrier: asyncio.Task[None] | None = None

    @property
    def enabled(self) -> bool:
        return self.backend is not None

    def describe(self) -> dict[str, object]:
        """For /healthz: where entries live, and invalidations Redis has not taken yet."""
        return {
            "backend": self.backend.name if self.backend is not None else "off",
            "pending_invalidations": len(self._unretired),
        }

    # --- reads ---------------------------------------------------------------------------

    async def fetch(
        self, cache: str, scope: str, key: str, load: Load, *, ttl_s: float | None = None
    ) -> bytes:
        backend = self.backend
        if backend is None:
            return await _uncached(load)
        if scope in self._unretired:
            BYPASSES.labels(cache, "pending_invalidation").inc()
            return await _uncached(load)
        entry_key = f"{cache}:{key}"
        try:
            found: tuple[str, bytes | None] = await self._call(
                lambda: backend.read(scope, entry_key)
            )
        except Exception as exc:
            # Redis is unusable: still one load per entry in this process (a stampede on the
            # database is worst exactly now).
            BYPASSES.labels(cache, _reason(exc)).inc()
            try:
                return await self._load_once(cache, f"{scope}|{entry_key}", None, load)
            except Uncacheable as answer:
                return answer.body
        token, stored = found
        if stored is not None:
            expires_at, load_s = _HEADER.unpack_from(stored)
            if not self.refresh_early(expires_at, load_s):
                HITS.labels(cache).inc()
                return stored[_HEADER.size :]
            EARLY_REFRESHES.labels(cache).inc()
        else:
            MISSES.labels(cache).inc()
        ttl = self.ttl_s if ttl_s is None else ttl_s

        async def store(value: bytes, took_s: float) -> None:
            await self._store(cache, scope, token, entry_key, value, ttl, took_s)

        try:
            return await self._load_once(cache, f"{scope}|{entry_key}", token, load, store)
        except Uncacheable as answer:
            return answer.body

    def refresh_early(self, expires_at: float, took_s: float) -> bool:
        if took_s <= 0:
            return False
        # XFetch (Vattani et al.): refresh when now - took * beta * ln(rand) >= expiry.
        draw = -took_s * self.early_beta * math.log(random.random() or 1e-12)  # noqa: S311 - not a secret
        return self._wall_clock() + draw >= expires_at

    async def _load_once(
        self,
        cache: str,
        flight_key: str,
        token: str | None,
        load: Load,
        store: Callable[[bytes, float], Awaitable[None]] | None = None,
    ) -> bytes:
        """The loaded value; stored before the flight ends, so that no request arriving in
        between misses again."""
        flight = self._flights.get(flight_key)
        if flight is not None and (
            flight.token == token or (token is None and flight.writes == self._writes)
        ):
            COALESCED.labels(cache).inc()
            try:
                return await asyncio.shield(flight.done)
            except asyncio.CancelledError:
                if not flight.done.cancelled():
                    raise  # this request was cancelled, not the one loading
                # the loading request was cancelled: load here instead
        flight = self._flights[flight_key] = _Flight(token, self._writes)
        started = self._wall_clock()
        try:
            value = await load()
            flight.done.set_result(value)
            if store is not None:
                await store(value, self._wall_clock() - started)
        except BaseException as exc:
            if not flight.done.done():
                if isinstance(exc, asyncio.CancelledError):
                    flight.done.cancel()
                else:
                    flight.done.set_exception(exc)
            self._forget(flight_key, flight)
            raise
        # Kept a moment after it landed: a request whose Redis read was answered "miss" just
        # before the store landed joins here instead of loading again (same scope token, so
        # the value is exactly what it would read now).
        asyncio.get_running_loop().call_later(FLIGHT_GRACE_S, self._forget, flight_key, flight)
        return value

    def _forget(self, flight_key: str, flight: _Flight) -> None:
        if self._flights.get(flight_key) is flight:
            del self._flights[flight_key]

    async def _store(
        self,
        cache: str,
        scope: str,
        token: str,
        entry_key: str,
        value: bytes,
        ttl_s: float,
        took_s: float,
    ) -> None:
        backend = self.backend
        assert backend is not None
        payload = _HEADER.pack(self._wall_clock() + ttl_s, took_s) + value
        try:
            await self._call(lambda: backend.write(scope, token, entry_key, payload, ttl_s))
        except Exception as exc:
            BYPASSES.labels(cache, _reason(exc)).inc()

    async def _call(self, operation: Callable[[], Awaitable[Any]]) -> Any:
        """A backend call with the timeout and, for Redis, the circuit breaker."""
        backend = self.backend
        if backend is None or not backend.remote:
            return await operation()

        async def bounded() -> Any:
            async with asyncio.timeout(self.timeout_s):
                return await operation()

        if self.breaker is None:
            return await bounded()
        return await self.breaker.call(bounded)

    # --- invalidation --------------------------------------------------------------------

    async def retire(self, scopes: Collection[str]) -> None:
        """Invalidate what a committed write changed; never raises."""
        backend = self.backend
        if not scopes or backend is None:
            return
        self._writes += 1
        try:
            await self._call(lambda: backend.retire(scopes))
        except Exception as exc:
            INVALIDATIONS.labels("deferred").inc()
            log.warning("cache_invalidation_deferred", scopes=len(scopes), error=repr(exc)[:200])
            self._unretired.update(scopes)
            self._retry_later()
            return
        INVALIDATIONS.labels("done").inc()

    def _retry_later(self) -> None:
        if self._retrier is None or self._retrier.done():
            self._retrier = asyncio.create_task(self._retry_unretired(), name="cache-retire")

    async def _retry_unretired(self) -> None:
        backend = self.backend
        assert backend is not None
        while self._unretired:
            await asyncio.sleep(RETRY_INTERVAL_S)
            pending = frozenset(self._unretired)
            try:
                await self._call(partial(backend.retire, pending))
            except Exception:  # noqa: S112 - still down; try again next second
                continue
            self._unretired -= pending
            INVALIDATIONS.labels("done").inc()
            log.info("cache_invalidation_caught_up", scopes=len(pending))

    async def close(self) -> None:
        await stop_task(self._retrier)


async def _uncached(load: Load) -> bytes:
    try:
        return await load()
    except Uncacheable as answer:
        return answer.body


def _reason(exc: Exception) -> str:
    if isinstance(exc, CircuitOpen):
        return "circuit_open"
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, RedisError | OSError):
        return "redis_error"
    return "error"
