"""Waiting for something a test cannot be told about directly (a background task, a real
process): poll a condition until it holds, with a deadline, never a fixed nap."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def until(
    check: Callable[[], Awaitable[T | None]],
    what: str | Callable[[], str],
    timeout_s: float = 10.0,
    every_s: float = 0.05,
) -> T:
    """The first truthy result of `check()`; fails saying `what` did not happen in time.

    `what` may be a function, called only on failure, to tell what was last seen (a check
    that keeps its last status in a variable can show it)."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = await check()
        if result:  # truthy, so not None
            return result
        if time.monotonic() >= deadline:
            said = what() if callable(what) else what
            raise AssertionError(f"{said} did not happen within {timeout_s} s")
        await asyncio.sleep(every_s)  # the one pause between looks, bounded by the deadline


def until_sync(
    check: Callable[[], T | None],
    what: str | Callable[[], str],
    timeout_s: float = 10.0,
    every_s: float = 0.05,
) -> T:
    """`until` for code outside the event loop (a real process starting, a port opening)."""
    deadline = time.monotonic() + timeout_s
    pause = threading.Event()  # never set: its wait is the pause between two looks
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() >= deadline:
            said = what() if callable(what) else what
            raise AssertionError(f"{said} did not happen within {timeout_s} s")
        pause.wait(every_s)
