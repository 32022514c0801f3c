"""Buckets in Redis, shared by every replica: all of a request's buckets in one round trip.

One Lua script (EVALSHA; redis-py's Script reloads it on NOSCRIPT) reads every bucket of the
request, refuses without touching any when one is empty, or takes a token from each. Time is
Redis's own clock (TIME), so replicas with skewed clocks agree. Each key expires once its
bucket would be full again, so Redis holds nothing for idle clients. Keys share the hash tag
`{catalog:rl}` so a multi-key script works on Redis Cluster (all buckets in one slot).
"""

from __future__ import annotations

from collections.abc import Sequence

import redis.asyncio as aioredis

from catalog.ratelimit.buckets import Check, Decision

KEY_PREFIX = "{catalog:rl}:"

# KEYS: one per bucket. ARGV: rate_1, burst_1, rate_2, burst_2, ..., consume (1 or 0)
# Returns {allowed, retry_after_s, rejected_index, tokens_1, tokens_2, ...} (tokens as text)
SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local n = #KEYS
local consume = ARGV[2 * n + 1] == '1'
local levels = {}
local worst_wait, worst_index = 0, 0
for i = 1, n do
  local rate = tonumber(ARGV[2 * i - 1])
  local burst = tonumber(ARGV[2 * i])
  local state = redis.call('HMGET', KEYS[i], 'tokens', 'ts')
  local tokens = burst
  if state[1] then
    tokens = math.min(burst, tonumber(state[1]) + math.max(0, now - tonumber(state[2])) * rate)
  end
  levels[i] = tokens
  if tokens < 1 then
    local wait = math.max(1, math.ceil((1 - tokens) / rate))
    if wait > worst_wait then worst_wait, worst_index = wait, i end
  end
end
local out = {1, 0, 0}
if worst_index > 0 then out = {0, worst_wait, worst_index} end
for i = 1, n do
  local rate = tonumber(ARGV[2 * i - 1])
  local burst = tonumber(ARGV[2 * i])
  local tokens = levels[i]
  if worst_index == 0 and consume then
    tokens = tokens - 1
    local ttl = math.ceil((burst - tokens) / rate * 1000) + 1000
    redis.call('HSET', KEYS[i], 'tokens', tostring(tokens), 'ts', tostring(now))
    redis.call('PEXPIRE', KEYS[i], ttl)
  end
  table.insert(out, tostring(tokens))
end
return out
"""


class RedisBuckets:
    def __init__(self, client: aioredis.Redis) -> None:
        self.client = client
        self.script = client.register_script(SCRIPT)

    async def decide(self, checks: Sequence[Check], consume: bool = True) -> Decision:
        keys = [KEY_PREFIX + check.key for check in checks]
        args: list[float | int] = []
        for check in checks:
            args += [check.limit.rate, check.limit.burst]
        args.append(1 if consume else 0)
        raw = await self.script(keys=keys, args=args)
        allowed, retry_after, rejected_index = int(raw[0]), int(raw[1]), int(raw[2])
        return Decision(
            allowed=bool(allowed),
            retry_after_s=retry_after,
            levels=tuple(float(v) for v in raw[3:]),
            rejected_by=checks[rejected_index - 1].limit.name if rejected_index else None,
        )
