"""The time the service reads, injected so tests can move it instead of sleeping.

Two readings, because the code needs both: `monotonic()` for intervals measured inside one
process (rate-limit refill, alert windows, circuit breakers, in-process cache TTLs) and
`time()` / `now()` for moments that are stored or shared with other processes (idempotency
expiry in the database, cache expiry written to Redis). `SystemClock` is the real one; its
methods are the `time` module's functions themselves, so passing `clock.monotonic` to the
rate limiter's hot path costs no extra call.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def monotonic(self) -> float: ...

    def time(self) -> float: ...

    def now(self) -> datetime: ...


class SystemClock:
    monotonic = staticmethod(time.monotonic)
    time = staticmethod(time.time)

    @staticmethod
    def now() -> datetime:
        return datetime.now(UTC)
