"""Catch a blocked event loop in the act: if the test session's loop is running but has not
run its heartbeat for STALL_S, every thread's stack goes to stderr (pytest shows it under the
failing test's "Captured stderr").

Why: concurrency tests have rarely failed with every request ending at the same instant
seconds late, the database connections' own timeouts firing together, which is what a loop
held by one synchronous call looks like. The stacks say which call it was. A loop that is
simply not running (between tests, in a synchronous test) is not a stall and is not reported.
"""

from __future__ import annotations

import asyncio
import faulthandler
import sys
import threading
import time

STALL_S = 3.0
BEAT_S = 0.25


class LoopWatch:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.last_beat = time.monotonic()
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._watch, name="loop-watch", daemon=True)

    def beat(self) -> None:
        """A callback that runs every BEAT_S while the loop runs (a timer, not a task)."""
        self.last_beat = time.monotonic()
        if not self.stopped.is_set():
            self.loop.call_later(BEAT_S, self.beat)

    def _watch(self) -> None:
        was_running, reported = False, False
        while not self.stopped.wait(0.5):
            running = self.loop.is_running()
            if running and not was_running:
                self.last_beat = time.monotonic()  # just resumed: its beat is due, not late
            was_running = running
            late = time.monotonic() - self.last_beat
            if running and late > STALL_S and not reported:
                stream = sys.__stderr__
                if stream is not None:
                    stream.write(f"\n--- the event loop has not run for {late:.1f} s; stacks:\n")
                    faulthandler.dump_traceback(file=stream, all_threads=True)
                reported = True
            elif late <= STALL_S:
                reported = False
