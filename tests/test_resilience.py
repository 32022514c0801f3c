"""Retry classification, jitter bounds, Retry-After, budget; circuit breaker transitions."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from tenacity import RetryCallState

from catalog.core.breaker import CircuitBreaker, CircuitOpen, State
from catalog.core.retry import (
    DEFAULT,
    Backoff,
    RetryBudget,
    RetryPolicy,
    TransientHTTPStatus,
    call_with_retry,
    full_jitter_wait,
    is_transient,
    retry_after_s,
    send_with_retry,
)

FAST = RetryPolicy(max_retries=3, initial_s=0.001, max_s=0.005)


def response(status: int, **headers: str) -> httpx.Response:
    return httpx.Response(status, headers=headers, request=httpx.Request("GET", "http://x"))


def test_guide_defaults() -> None:
    assert (DEFAULT.max_retries, DEFAULT.initial_s, DEFAULT.max_s, DEFAULT.multiplier) == (
        3,
        0.1,
        5.0,
        2.0,
    )
    assert [DEFAULT.cap(n) for n in (1, 2, 3, 4, 8)] == [0.1, 0.2, 0.4, 0.8, 5.0]


def test_backoff_doubles_from_the_first_pause_up_to_its_cap() -> None:
    # The numbers of the background loops: graph index creation, search history batches,
    # and the graph and search workers (the poll interval doubled per failure).
    assert [Backoff(1.0, 60.0).pause_s(n) for n in range(1, 9)] == [1, 2, 4, 8, 16, 32, 60, 60]
    assert [Backoff(0.1, 5.0).pause_s(n) for n in range(1, 9)] == [
        0.1,
        0.2,
        0.4,
        0.8,
        1.6,
        3.2,
        5.0,
        5.0,
    ]
    assert [Backoff(0.5, 30.0).pause_s(failures + 1) for failures in range(8)] == [
        0.5 * 2**failures if failures < 6 else 30.0 for failures in range(8)
    ]
    assert Backoff(0.5, 30.0).pause_s(10_000) == 30.0


@pytest.mark.parametrize(
    ("failure", "transient"),
    [
        (httpx.ConnectTimeout("t"), True),
        (httpx.ReadTimeout("t"), True),
        (httpx.ConnectError("refused"), True),
        (TimeoutError(), True),
        (ConnectionResetError(), True),
        (TransientHTTPStatus(response(503)), True),
        (ValueError("bug"), False),
        (KeyError("x"), False),
    ],
)
def test_classification(failure: BaseException, transient: bool) -> None:
    assert is_transient(failure) is transient


def test_full_jitter_stays_within_the_cap() -> None:
    wait = full_jitter_wait(DEFAULT)
    for attempt in (1, 2, 3, 6):
        state = RetryCallState(None, None, (), {})  # type: ignore[arg-type]
        state.attempt_number = attempt
        draws = [wait(state) for _ in range(2000)]
        assert min(draws) >= 0
        assert max(draws) <= DEFAULT.cap(attempt)
        assert max(draws) > 0.8 * DEFAULT.cap(attempt)  # the whole range is used
        assert len({round(d, 6) for d in draws}) > 1000  # not a constant


def test_retry_after_is_read_in_both_forms() -> None:
    assert retry_after_s(TransientHTTPStatus(response(429, **{"retry-after": "7"}))) == 7
    dated = retry_after_s(
        TransientHTTPStatus(response(503, **{"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}))
    )
    assert dated == 0.0  # in the past: no extra wait
    assert retry_after_s(TransientHTTPStatus(response(503))) is None
    assert retry_after_s(ValueError()) is None


async def test_transient_failures_are_retried_then_succeed() -> None:
    calls = 0

    async def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise httpx.ConnectError("refused")
        return "ok"

    assert await call_with_retry(flaky, idempotent=True, policy=FAST) == "ok"
    assert calls == 3


async def test_at_most_three_retries_then_the_failure_surfaces() -> None:
    calls = 0

    async def down() -> None:
        nonlocal calls
        calls += 1
        raise httpx.ConnectError("refused")

    with pytest.raises(httpx.ConnectError):
        await call_with_retry(down, idempotent=True, policy=FAST)
    assert calls == 4


async def test_non_transient_and_non_idempotent_are_not_retried() -> None:
    calls = 0

    async def broken() -> None:
        nonlocal calls
        calls += 1
        raise ValueError("a bug, not an outage")

    with pytest.raises(ValueError, match="bug"):
        await call_with_retry(broken, idempotent=True, policy=FAST)
    assert calls == 1

    async def unsafe() -> None:
        nonlocal calls
        calls += 1
        raise httpx.ConnectError("refused")

    calls = 0
    with pytest.raises(httpx.ConnectError):
        await call_with_retry(unsafe, idempotent=False, policy=FAST)
    assert calls == 1


async def test_retry_budget_caps_retries_during_an_outage() -> None:
    budget = RetryBudget(ratio=0.2, floor=2, window_s=60)
    attempts = 0

    async def down() -> None:
        nonlocal attempts
        attempts += 1
        raise httpx.ConnectError("refused")

    for _ in range(20):
        with pytest.raises(httpx.ConnectError):
            await call_with_retry(down, idempotent=True, policy=FAST, budget=budget)
    retries = attempts - 20
    assert retries <= 2 + 0.2 * 20  # not 3 per call (60): the budget held
    assert retries >= 2


async def test_http_statuses_and_retry_after_through_a_real_server() -> None:
    from tests.support.receiver import Receiver

    hook = Receiver()
    hook.status = 503
    try:
        async with httpx.AsyncClient() as client:
            request = client.build_request("POST", hook.url, json={})
            answer = await send_with_retry(client, request, idempotent=True, policy=FAST)
            assert answer.status_code == 503  # out of retries: the last answer
            assert hook.attempts == 4
            hook.status = 404
            answer = await send_with_retry(
                client,
                client.build_request("POST", hook.url, json={}),
                idempotent=True,
                policy=FAST,
            )
            assert answer.status_code == 404
            assert hook.attempts == 5  # 404 is not transient: one attempt
    finally:
        hook.stop()


# --- circuit breaker ---------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def fail() -> None:
    raise ConnectionError("down")


async def succeed() -> str:
    return "ok"


async def attempt(breaker: CircuitBreaker, op: Any) -> str:
    try:
        await breaker.call(op)
    except CircuitOpen:
        return "rejected"
    except ConnectionError:
        return "failed"
    return "ok"


async def test_breaker_opens_on_failure_rate_and_recovers_through_half_open() -> None:
    clock = Clock()
    breaker = CircuitBreaker(
        "test-dep",
        window=10,
        minimum_calls=4,
        failure_rate=0.5,
        open_s=30,
        half_open_calls=2,
        clock=clock,
    )
    assert [
        await attempt(breaker, succeed),
        await attempt(breaker, fail),
        await attempt(breaker, succeed),
    ] == ["ok", "failed", "ok"]
    assert breaker.state is State.CLOSED  # below minimum calls
    assert await attempt(breaker, fail) == "failed"  # 2 of 4 failed: 50%
    assert breaker.state is State.OPEN  # type: ignore[comparison-overlap]  # mypy keeps the narrowing across the await
    assert await attempt(breaker, succeed) == "rejected"  # fails fast, nothing called
    clock.now = 31
    assert breaker.state is State.HALF_OPEN
    assert [await attempt(breaker, succeed), await attempt(breaker, succeed)] == ["ok", "ok"]
    assert breaker.state is State.CLOSED
    assert breaker.snapshot() == {"state": "closed", "calls": 0, "failures": 0}


async def test_breaker_half_open_failure_reopens_and_limits_trial_calls() -> None:
    clock = Clock()
    breaker = CircuitBreaker(
        "test-dep-2",
        window=5,
        minimum_calls=2,
        failure_rate=0.5,
        open_s=10,
        half_open_calls=2,
        clock=clock,
    )
    await attempt(breaker, fail)
    await attempt(breaker, fail)
    assert breaker.state is State.OPEN
    clock.now = 11
    assert await attempt(breaker, fail) == "failed"
    assert breaker.state is State.HALF_OPEN  # type: ignore[comparison-overlap]  # as above
    assert await attempt(breaker, fail) == "failed"
    assert breaker.state is State.OPEN  # trial calls failed: open again
    clock.now = 22
    breaker.state  # noqa: B018 - reading the state moves it to half-open
    slow_trial = asyncio.Event()

    async def hang() -> None:
        await slow_trial.wait()

    first = asyncio.create_task(breaker.call(hang))
    second = asyncio.create_task(breaker.call(hang))
    await asyncio.sleep(0)
    assert await attempt(breaker, succeed) == "rejected"  # only 2 trial calls at a time
    slow_trial.set()
    await asyncio.gather(first, second)


async def test_breaker_opens_on_slow_calls() -> None:
    clock = Clock()
    breaker = CircuitBreaker(
        "test-dep-3", window=4, minimum_calls=4, slow_call_rate=0.5, slow_call_s=1.0, clock=clock
    )

    async def slow() -> None:
        clock.now += 2.0  # takes 2 "seconds"

    for op in (succeed, slow, succeed, slow):
        await breaker.call(op)
    assert breaker.state is State.OPEN
