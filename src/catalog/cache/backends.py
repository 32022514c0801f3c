"""Where cached answers live: Redis (shared by every replica) or this process (LRU + TTL).

Both backends speak in *scopes*. A scope (`product:<id>`, `element:<id>`, `tags`, `listings`)
names the entries one write can make stale. Each scope has a generation token, and every entry
is stored under the token that was current when its loader started. Invalidating a scope
replaces the token (`retire`), so entries stored under the old one are never read again and
simply expire. That also closes the cache-aside race: a reader that loaded rows before a write
committed stores them under the token the write has since retired, where nobody looks.

Tokens are random, never counters: a token that Redis evicted (or that expired) is replaced
by a fresh one on the next read, which can only cause misses, never resurrect old entries.

Redis: one round trip per read (a Lua script reads the token and the entry). The scope is
the key's hash tag, so a token and its entries share a cluster slot.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Collection
from typing import Protocol

import redis.asyncio as aioredis
from cachetools import LRUCache, TLRUCache

KEY_PREFIX = "catalog:cache:"
MEMORY_ENTRY_OVERHEAD = 200  # bytes of bookkeeping per entry, so tiny entries still count

# KEYS[1] the scope's token key; ARGV[1] the entry's suffix, ARGV[2] a fresh token to use if
# the scope has none, ARGV[3] the token's lifetime in seconds.
READ_SCRIPT = """
local token = redis.call('GET', KEYS[1])
if not token then
  token = ARGV[2]
  redis.call('SET', KEYS[1], token, 'EX', ARGV[3])
end
return {token, redis.call('GET', KEYS[1] .. ':' .. token .. ':' .. ARGV[1])}
"""


def new_token() -> str:
    return secrets.token_hex(6)


class Backend(Protocol):
    name: str
    remote: bool

    async def read(self, scope: str, key: str) -> tuple[str, bytes | None]:
        """The scope's current token and the entry stored under it, if any."""
        ...

    async def write(self, scope: str, token: str, key: str, value: bytes, ttl_s: float) -> None: ...

    async def retire(self, scopes: Collection[str]) -> None:
        """Give each scope a new token: everything cached under the old one is gone."""
        ...


class _Entries(TLRUCache[str, tuple[float, bytes]]):
    """Entries bounded in bytes, each with its own expiry; size evictions are reported."""

    def __init__(
        self,
        max_bytes: int,
        on_evict: Callable[[str], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(
            maxsize=max_bytes,
            ttu=lambda _key, value, _now: value[0],
            timer=clock,
            getsizeof=lambda value: len(value[1]) + MEMORY_ENTRY_OVERHEAD,
        )
        self._on_evict = on_evict

    def popitem(self) -> tuple[str, tuple[float, bytes]]:
        # cachetools calls popitem only to make room (expiry goes through expire()).
        key, value = super().popitem()
        self._on_evict(key)
        return key, value


class MemoryBackend:
    """This process only: right for one process; `catalog serve --workers N` without Redis
    turns the cache off (each worker would keep its own, and invalidate only its own)."""

    name = "memory"
    remote = False

    def __init__(
        self,
        max_bytes: int,
        on_evict: Callable[[str], None],
        max_scopes: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clock = clock
        self._entries = _Entries(max_bytes, on_evict, clock)
        self._tokens: LRUCache[str, str] = LRUCache(max_scopes)

    def _token(self, scope: str) -> str:
        token = self._tokens.get(scope)
        if token is None:
            token = self._tokens[scope] = new_token()
        return token

    async def read(self, scope: str, key: str) -> tuple[str, bytes | None]:
        token = self._token(scope)
        found = self._entries.get(f"{scope}|{token}|{key}")
        return token, None if found is None else found[1]

    async def write(self, scope: str, token: str, key: str, value: bytes, ttl_s: float) -> None:
        # A value bigger than the whole cache is simply not kept.
        if len(value) + MEMORY_ENTRY_OVERHEAD <= self._entries.maxsize:
            self._entries[f"{scope}|{token}|{key}"] = (self._clock() + ttl_s, value)

    async def retire(self, scopes: Collection[str]) -> None:
        for scope in scopes:
            self._tokens[scope] = new_token()

    @property
    def bytes_used(self) -> float:
        return self._entries.currsize


class RedisBackend:
    name = "redis"
    remote = True

    def __init__(self, redis: aioredis.Redis, token_ttl_s: int) -> None:
        self._redis = redis
        self._token_ttl_s = token_ttl_s
        self._read = redis.register_script(READ_SCRIPT)  # EVALSHA, reloaded on NOSCRIPT

    @staticmethod
    def _scope_key(scope: str) -> str:
        return f"{KEY_PREFIX}{{{scope}}}"

    async def read(self, scope: str, key: str) -> tuple[str, bytes | None]:
        token, value = await self._read(
            keys=[self._scope_key(scope)], args=[key, new_token(), self._token_ttl_s]
        )
        return token.decode(), value

    async def write(self, scope: str, token: str, key: str, value: bytes, ttl_s: float) -> None:
        await self._redis.set(
            f"{self._scope_key(scope)}:{token}:{key}", value, px=int(ttl_s * 1000)
        )

    async def retire(self, scopes: Collection[str]) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            for scope in scopes:
                pipe.set(self._scope_key(scope), new_token(), ex=self._token_ttl_s)
            await pipe.execute()
