"""Background tasks are stopped at shutdown without being able to hold it up."""

from __future__ import annotations

import asyncio
import time

from catalog.core.tasks import stop_task


async def test_a_task_that_absorbs_its_cancel_does_not_hold_shutdown_up() -> None:
    done = asyncio.Event()

    async def stubborn() -> None:  # as a loop whose cancel was swallowed inside a driver call
        while not done.is_set():
            try:
                await done.wait()
            except asyncio.CancelledError:
                continue

    task = asyncio.create_task(stubborn(), name="stubborn")
    await asyncio.sleep(0)
    started = time.monotonic()
    await stop_task(task, timeout_s=0.2)
    assert 0.2 <= time.monotonic() - started < 2
    assert not task.done()
    done.set()
    task.cancel()
    await asyncio.wait({task}, timeout=2)
    assert task.done()


async def test_a_well_behaved_task_is_cancelled_and_awaited() -> None:
    async def until_cancelled() -> None:
        await asyncio.Event().wait()

    task = asyncio.create_task(until_cancelled())
    await asyncio.sleep(0)
    started = time.monotonic()
    await stop_task(task)
    assert task.cancelled()
    assert time.monotonic() - started < 1
    await stop_task(None)  # nothing to stop
