"""Stopping background tasks at shutdown without being held up by them.

`task.cancel()` then `await task` waits for as long as the task keeps running, and a cancel
can be absorbed inside a library call (a database driver finishing its own cleanup), after
which the task's loop simply goes on: shutdown then hangs. `stop_task` waits a bounded time
and moves on, saying so in the log.
"""

from __future__ import annotations

import asyncio
import contextlib

from catalog.core.logging import get_logger

log = get_logger(__name__)

STOP_TIMEOUT_S = 5.0


async def stop_task(task: asyncio.Task[None] | None, timeout_s: float = STOP_TIMEOUT_S) -> None:
    """Cancel `task` and wait for it to end, at most `timeout_s`."""
    if task is None or task.done():
        return
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=timeout_s)
    if not done:
        log.warning("background_task_did_not_stop", task=task.get_name(), timeout_s=timeout_s)
        return
    with contextlib.suppress(asyncio.CancelledError):
        if (error := task.exception()) is not None:
            log.warning("background_task_failed", task=task.get_name(), error=repr(error)[:300])


async def wait_for_any(events: set[asyncio.Event], timeout_s: float) -> None:
    """Wait until one of `events` is set, at most `timeout_s` (a background loop's pause that
    a wake-up or a stop request cuts short)."""
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
