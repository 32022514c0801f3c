"""Buckets in process memory: exact for one process, bounded whatever the traffic.

A bucket untouched for longer than its window is full again, so it is forgotten (the next
request recreates it as full): idle clients cost nothing. A hard cap on keys evicts the least
recently used bucket first, so a flood of distinct or spoofed addresses cannot grow memory
past the cap. Decisions are synchronous dictionary work (no await, so atomic under asyncio).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Sequence

from catalog.ratelimit.buckets import Check, Decision, refill, seconds_to_one


class LocalBuckets:
    def __init__(self, max_keys: int, clock: object = time.monotonic) -> None:
        self.max_keys = max_keys
        self._clock = clock
        # key -> (tokens, last refill time); ordered by last use, oldest first
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self.evictions = 0

    def __len__(self) -> int:
        return len(self._buckets)

    def decide(self, checks: Sequence[Check], consume: bool = True) -> Decision:
        # A plain loop on purpose: this runs on every request and must cost microseconds.
        now: float = self._clock()  # type: ignore[operator]
        buckets = self._buckets
        levels = []
        wait, rejected_by = 0, None
        for limit, key in checks:
            state = buckets.get(key)
            tokens = float(limit.burst) if state is None else refill(*state, now, limit)
            if tokens < 1.0:
                needed = seconds_to_one(tokens, limit)
                if needed > wait:
                    wait, rejected_by = needed, limit.name
            levels.append(tokens)
        if rejected_by is not None:
            return Decision(False, wait, tuple(levels), rejected_by)
        if not consume:  # a look without a draw (the brute-force guard's "may they try?")
            return Decision(True, 0, tuple(levels))
        after = tuple(tokens - 1.0 for tokens in levels)
        for (_, key), tokens in zip(checks, after, strict=True):
            buckets[key] = (tokens, now)
            buckets.move_to_end(key)
        while len(buckets) > self.max_keys:
            buckets.popitem(last=False)
            self.evictions += 1
        return Decision(True, 0, after)

    def forget_idle(self, idle_after_s: float) -> int:
        """Drop buckets untouched for `idle_after_s` (they would be full anyway)."""
        now: float = self._clock()  # type: ignore[operator]
        dropped = 0
        while self._buckets:
            key, (_, last) = next(iter(self._buckets.items()))
            if now - last < idle_after_s:
                break
            del self._buckets[key]
            dropped += 1
        return dropped
