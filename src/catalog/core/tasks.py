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
from catalog.core.retry import Backoff

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


class RoundLoop:
    """A background loop of rounds (the graph projection, the lineage applier): a round right
    away while the last one was full (`batch`), else a pause of `interval_s` that a `wake()`
    cuts short (after `gather_s` more, when set); after a failed round the pause doubles per
    failure (up to `max_backoff_s`) and wakes do not cut it, or a burst of writes during an
    outage would become a burst of attempts against what is failing. Subclasses give
    `run_once` (how much it did) and say how a failure is counted in `round_failed`."""

    name = "rounds"

    def __init__(
        self,
        *,
        batch: int,
        interval_s: float,
        max_backoff_s: float = 30.0,
        gather_s: float = 0.0,
    ) -> None:
        self.batch = batch
        self.interval_s = interval_s
        # After a wake, wait this long before the round, so the writes of that moment share
        # one round instead of paying a round each (a wake per commit at 100 commits/s).
        self.gather_s = gather_s
        self.backoff = Backoff(interval_s, max_backoff_s)
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()

    async def run_once(self) -> int:
        raise NotImplementedError

    def round_failed(self, error: Exception, failures: int) -> None:
        log.warning(f"{self.name}_failed", error=repr(error)[:300], failures=failures)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self.name)

    def wake(self) -> None:
        """Start the next round now (something to do just committed)."""
        self._wake.set()

    async def stop(self) -> None:
        """Stop between rounds, or cancel the round under way. The flag matters: a cancel that
        lands inside a database driver call can be absorbed there (seen with aiosqlite), and
        the loop must still end instead of holding shutdown up."""
        self._stopping.set()
        await stop_task(self._task)
        self._task = None

    async def _run(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            try:
                done = await self.run_once()
                failures = 0
            except Exception as exc:  # what failed is retried next round: nothing is lost
                failures += 1
                self.round_failed(exc, failures)
                done = 0
            if done >= self.batch:
                continue  # more waiting: no pause
            self._wake.clear()
            pause = self.backoff.pause_s(failures + 1)  # interval * 2**failures, capped
            await wait_for_any(
                {self._stopping} if failures else {self._wake, self._stopping}, pause
            )
            if self.gather_s and self._wake.is_set() and not self._stopping.is_set():
                await wait_for_any({self._stopping}, self.gather_s)
