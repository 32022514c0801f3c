"""Circuit breakers, one per dependency, with resilience4j's semantics.

CLOSED: calls go through; the outcomes of the last `window` calls are kept. When at least
`minimum_calls` are recorded and the failure rate or the slow-call rate (calls longer than
`slow_call_s`) reaches its threshold, the breaker OPENs. OPEN: calls fail at once with
`CircuitOpen` for `open_s`, sparing the dependency and the caller's time. Then HALF_OPEN:
`half_open_calls` trial calls go through; if their failure or slow rate is still over the
threshold the breaker opens again, otherwise it closes with an empty window.

Hand-written because the Python libraries at hand (pybreaker, aiobreaker, circuitbreaker)
count consecutive failures only: none has a sliding window with failure *rate*, slow calls
and a half-open trial quota. States are exported as
`catalog_circuit_breaker_state{dependency}` (0 closed, 1 half-open, 2 open) and in /healthz.
Each breaker belongs to the part that makes it (the app's `Resources.breakers()` lists them),
never to a process-wide registry: two apps in one process keep their own.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Awaitable, Callable
from enum import IntEnum
from typing import TypeVar

from prometheus_client import Counter, Gauge

from catalog.core.logging import get_logger

log = get_logger(__name__)
T = TypeVar("T")

STATE = Gauge(
    "catalog_circuit_breaker_state",
    "Circuit breaker state per dependency: 0 closed, 1 half-open, 2 open",
    ("dependency",),
    multiprocess_mode="livemax",
)
TRANSITIONS = Counter(
    "catalog_circuit_breaker_transitions_total",
    "Circuit breaker state changes",
    ("dependency", "to"),
)
REJECTED = Counter(
    "catalog_circuit_breaker_rejected_total",
    "Calls refused because the breaker was open",
    ("dependency",),
)


class State(IntEnum):
    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


class CircuitOpen(Exception):
    def __init__(self, name: str, retry_in_s: float) -> None:
        super().__init__(f"circuit for {name} is open; next try in {retry_in_s:.1f}s")
        self.name = name
        self.retry_in_s = retry_in_s


class CircuitBreaker:
    def __init__(
        self,
        name: str,
        *,
        window: int = 20,
        minimum_calls: int = 5,
        failure_rate: float = 0.5,
        slow_call_rate: float = 1.0,
        slow_call_s: float = 5.0,
        open_s: float = 30.0,
        half_open_calls: int = 3,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.window = window
        self.minimum_calls = minimum_calls
        self.failure_rate = failure_rate
        self.slow_call_rate = slow_call_rate
        self.slow_call_s = slow_call_s
        self.open_s = open_s
        self.half_open_calls = half_open_calls
        self._clock = clock
        self._outcomes: deque[tuple[bool, bool]] = deque(maxlen=window)  # (failed, slow)
        self._state = State.CLOSED
        self._opened_at = 0.0
        self._trials = 0
        STATE.labels(name).set(0)

    @property
    def state(self) -> State:
        if self._state is State.OPEN and self._clock() - self._opened_at >= self.open_s:
            self._move(State.HALF_OPEN)
        return self._state

    def publish(self) -> None:
        """Set the state gauge to this breaker's state now (an open breaker turns half-open
        by time alone, with no call to notice it)."""
        STATE.labels(self.name).set(int(self.state))

    def snapshot(self) -> dict[str, object]:
        failed = sum(1 for f, _ in self._outcomes if f)
        return {"state": self.state.name.lower(), "calls": len(self._outcomes), "failures": failed}

    async def call(self, operation: Callable[[], Awaitable[T]]) -> T:
        self._admit()
        started = self._clock()
        try:
            result = await operation()
        except Exception:
            self.record(failed=True, duration_s=self._clock() - started)
            raise
        self.record(failed=False, duration_s=self._clock() - started)
        return result

    def _admit(self) -> None:
        state = self.state
        if state is State.OPEN:
            REJECTED.labels(self.name).inc()
            raise CircuitOpen(self.name, self.open_s - (self._clock() - self._opened_at))
        if state is State.HALF_OPEN:
            if self._trials >= self.half_open_calls:
                REJECTED.labels(self.name).inc()
                raise CircuitOpen(self.name, 0.0)
            self._trials += 1

    def record(self, *, failed: bool, duration_s: float) -> None:
        self._outcomes.append((failed, duration_s >= self.slow_call_s))
        if self._state is State.HALF_OPEN:
            if len(self._outcomes) >= self.half_open_calls:
                self._move(State.OPEN if self._over_threshold() else State.CLOSED)
        elif (
            self._state is State.CLOSED
            and len(self._outcomes) >= self.minimum_calls
            and self._over_threshold()
        ):
            self._move(State.OPEN)

    def _over_threshold(self) -> bool:
        calls = len(self._outcomes)
        failures = sum(1 for failed, _ in self._outcomes if failed)
        slow = sum(1 for _, is_slow in self._outcomes if is_slow)
        return failures / calls >= self.failure_rate or slow / calls >= self.slow_call_rate

    def _move(self, to: State) -> None:
        if to is self._state:
            return
        log.warning(
            "circuit_breaker_transition", dependency=self.name, frm=self._state.name, to=to.name
        )
        self._state = to
        self._outcomes.clear()
        self._trials = 0
        if to is State.OPEN:
            self._opened_at = self._clock()
        STATE.labels(self.name).set(int(to))
        TRANSITIONS.labels(self.name, to.name.lower()).inc()
