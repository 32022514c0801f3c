"""Retrying transient failures: the guide's defaults, full jitter, `Retry-After`, a budget.

Built on tenacity. Defaults (the readiness guide): at most 3 retries, first wait up to 100 ms,
waits double up to 5 s, each one drawn uniformly from [0, cap] ("full jitter", so retrying
clients do not march in step). A `Retry-After` from the server is honoured when it is longer.

Only transient failures are retried: timeouts, connection errors, and HTTP 429, 500, 502, 503,
504; and only operations that are safe to repeat (`idempotent=True`: GET/PUT/DELETE, or a
POST carrying an idempotency key). A retry budget caps retries at a share of first attempts
(default 20%, plus a small floor), so during an outage retries cannot multiply the load on
the thing that is already failing.

`Backoff` is the other half: how a loop that keeps trying (a background worker, a start-up
task) spaces its attempts, the same doubling through tenacity's `wait_exponential`.
"""

from __future__ import annotations

import email.utils
import random
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

T = TypeVar("T")
TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 3
    initial_s: float = 0.1
    max_s: float = 5.0
    multiplier: float = 2.0

    def cap(self, retry_number: int) -> float:
        """The most the n-th retry (1-based) waits before Retry-After is considered."""
        return Backoff(self.initial_s, self.max_s, self.multiplier).pause_s(retry_number)


DEFAULT = RetryPolicy()


class Backoff:
    """How a loop that keeps trying backs off: `first_s` after the first failure, doubling
    (or times `multiplier`) with each further consecutive failure, never more than `max_s`;
    no jitter (one such loop per process, so there is no herd to spread out). `RetryPolicy`
    draws its full-jitter waits under the same curve.

    `wait` is tenacity's `wait_exponential` for a tenacity retrying. `pause_s(n)` asks that
    same strategy for the pause after n failures, for loops that do not fit tenacity's
    retrying: long-running workers that count, log and carry on between rounds, and whose
    pause a wake-up or a stop request may cut short (see `catalog.core.tasks`).
    """

    def __init__(self, first_s: float, max_s: float, multiplier: float = 2.0) -> None:
        self.first_s = first_s
        self.max_s = max_s
        self.wait = wait_exponential(multiplier=first_s, max=max_s, exp_base=multiplier)

    def pause_s(self, failures: int) -> float:
        """The pause after `failures` consecutive failures: `first_s * multiplier **
        (failures - 1)`, at most `max_s` (tenacity's attempt number counts failed attempts)."""
        state = RetryCallState(_NOT_RETRYING, None, (), {})
        state.attempt_number = failures
        return self.wait(state)


_NOT_RETRYING = Retrying()  # the retrying a RetryCallState must name; pause_s never runs it


class RetryBudget:
    """Retries may be at most `ratio` of first attempts (plus `floor` per window).

    Counted over a sliding window of `window_s`, in process. Thread-safe (used from sync
    code too).
    """

    def __init__(self, ratio: float = 0.2, floor: int = 10, window_s: float = 10.0) -> None:
        self.ratio = ratio
        self.floor = floor
        self.window_s = window_s
        self._attempts: list[float] = []
        self._retries: list[float] = []
        self._lock = threading.Lock()

    def _trim(self, now: float) -> None:
        cutoff = now - self.window_s
        self._attempts = [t for t in self._attempts if t > cutoff]
        self._retries = [t for t in self._retries if t > cutoff]

    def record_attempt(self) -> None:
        with self._lock:
            self._attempts.append(time.monotonic())

    def try_spend(self) -> bool:
        with self._lock:
            now = time.monotonic()
            self._trim(now)
            if len(self._retries) >= self.floor + self.ratio * len(self._attempts):
                return False
            self._retries.append(now)
            return True


class TransientHTTPStatus(Exception):
    """A response worth retrying, raised so tenacity sees it (carries the response)."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, TransientHTTPStatus):
        return True
    return isinstance(
        exc, httpx.TimeoutException | httpx.TransportError | TimeoutError | ConnectionError
    )


def retry_after_s(exc: BaseException | None) -> float | None:
    """Seconds from a `Retry-After` header (delta seconds or HTTP date), when there is one."""
    if not isinstance(exc, TransientHTTPStatus):
        return None
    value = exc.response.headers.get("retry-after")
    if not value:
        return None
    if value.strip().isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())


def full_jitter_wait(policy: RetryPolicy) -> Callable[[RetryCallState], float]:
    def wait(state: RetryCallState) -> float:
        drawn = random.uniform(0, policy.cap(state.attempt_number))  # noqa: S311 - jitter
        exc = state.outcome.exception() if state.outcome else None
        asked = retry_after_s(exc)
        return max(drawn, min(asked, 60.0)) if asked is not None else drawn

    return wait


async def call_with_retry(
    operation: Callable[[], Awaitable[T]],
    *,
    idempotent: bool,
    policy: RetryPolicy = DEFAULT,
    budget: RetryBudget | None = None,
    on_retry: Callable[[RetryCallState], Any] | None = None,
) -> T:
    """Run `operation`; retry transient failures when it is safe and the budget allows."""
    if budget is not None:
        budget.record_attempt()
    if not idempotent:
        return await operation()

    def stop(state: RetryCallState) -> bool:
        if stop_after_attempt(policy.max_retries + 1)(state):
            return True
        return budget is not None and not budget.try_spend()

    retrying = AsyncRetrying(
        stop=stop,
        wait=full_jitter_wait(policy),
        retry=retry_if_exception(is_transient),
        reraise=True,
        before_sleep=on_retry,
    )
    async for attempt in retrying:
        with attempt:
            return await operation()
    raise AssertionError("unreachable: tenacity reraises the last failure")


async def send_with_retry(
    client: httpx.AsyncClient,
    request: httpx.Request,
    *,
    idempotent: bool,
    policy: RetryPolicy = DEFAULT,
    budget: RetryBudget | None = None,
) -> httpx.Response:
    """Send an HTTP request; transient statuses are retried like transport errors."""

    async def once() -> httpx.Response:
        response = await client.send(request)
        if response.status_code in TRANSIENT_STATUSES:
            raise TransientHTTPStatus(response)
        return response

    try:
        return await call_with_retry(once, idempotent=idempotent, policy=policy, budget=budget)
    except TransientHTTPStatus as exc:
        return exc.response  # out of retries: the caller sees the last answer
