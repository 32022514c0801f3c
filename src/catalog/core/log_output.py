"""Where log lines go: stdout, written by one thread so the event loop never waits on it.

A line is appended to an ordered, bounded queue and a background thread writes the queue in
batches (one write and one flush per batch, not per line; see LineWriter for how lines are
gathered). The loop does not block when stdout is a slow pipe (a container runtime's log
driver under pressure), and a batch shares the cost of the system calls among its lines.
Every line of the process (structlog's and the standard library's, the server's included)
goes through the same queue, so their order is the order they were logged in.

Bounded: past `MAX_QUEUED_LINES` waiting lines (stdout has not taken anything for a while),
a new line is dropped, counted (`on_drop`: observability/metrics.py makes it
`catalog_log_lines_dropped_total`), and a `log_lines_dropped` warning with the count is
written as soon as the queue has room again: lines may be lost under a stuck log reader,
never silently.

Only the process's own stdout is written by the thread. When `sys.stdout` has been replaced
(a test's capture, an embedding application's stream) lines are written to it at once, as
before: such streams are in memory, never block, and their readers expect a line to be
there as soon as it was logged.

Queued only while the app serves: the lifespan calls `start()` when it has started and
`stop()` (which waits until the queue is written) when it has shut down. Before and after,
lines are written at once: a command such as `catalog migrate` needs no thread, and the last
lines of a server (the server's own, after the app's shutdown) are not left in a queue should
the process then die of a signal (uvicorn, for one, raises the SIGTERM it caught again on its
way out, and a process killed by a signal runs no exit handlers).

Hand-written because the standard library's QueueHandler/QueueListener serve `logging`
records, not structlog's rendered lines, and add a record object and a lock per line.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TextIO

import orjson

MAX_QUEUED_LINES = 10_000
DRAIN_TIMEOUT_S = 5.0


class _Flushed:
    """A marker in the queue: set once every line queued before it is written."""

    __slots__ = ("done",)

    def __init__(self) -> None:
        self.done = threading.Event()


class LineWriter:
    """The queue and its writer thread (started with the first queued line).

    Lines logged on a running event loop are gathered for the rest of the loop's current
    iteration and handed to the thread as one batch (a callback at the iteration's end):
    waking the thread for every line cost more than the line itself (the wake-up and the
    GIL passed back and forth, ~40 µs a request under load here). Lines logged elsewhere (a
    worker thread, the command line) are handed over at once. Order is kept per thread.
    """

    def __init__(self, max_lines: int = MAX_QUEUED_LINES, stream: TextIO | None = None) -> None:
        """`stream`: where the thread writes every line; by default the process's stdout,
        with lines for a replaced `sys.stdout` written to it directly (see above)."""
        self.max_lines = max_lines
        self._stream = stream
        self._lock = threading.Lock()  # uncontended but for the moment a batch changes hands
        self._pending: list[str] = []  # this loop iteration's lines
        self._queue: deque[list[str] | _Flushed] = deque()
        self._queued = 0  # lines in the queue
        self._dropped = 0  # not yet announced
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._queueing = stream is not None  # the process's writer: from start() to stop()
        # Told how many lines were just dropped (a metric, set by whoever exports metrics;
        # this module stays free of them, since every command logs and not all export).
        self.on_drop: Callable[[int], None] | None = None

    def start(self) -> None:
        """Queue lines from now on (the app has started serving)."""
        self._queueing = True

    def stop(self) -> bool:
        """Write lines at once from now on, after the queued ones; False if those took longer
        than DRAIN_TIMEOUT_S to write."""
        self._queueing = False
        return self.drain()

    def write(self, text: str) -> None:
        if not self._queueing or (self._stream is None and sys.stdout is not sys.__stdout__):
            if self._queue or self._pending:
                self.drain()  # lines queued before keep their place
            stream = self._stream or sys.stdout
            if stream is not None:
                stream.write(text)
                stream.flush()
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._enqueue([text])
            return
        with self._lock:
            first = not self._pending
            self._pending.append(text)
        if first:
            loop.call_soon(self._hand_over)

    @property
    def queued(self) -> int:
        """Lines handed to the thread and not yet taken by it."""
        return self._queued

    def drain(self, timeout_s: float = DRAIN_TIMEOUT_S) -> bool:
        """Wait until every line logged so far is written; False if that took too long."""
        self._hand_over()
        if self._thread is None or not self._thread.is_alive():
            return not self._queue
        marker = _Flushed()
        with self._lock:
            self._queue.append(marker)
        self._wake.set()
        return marker.done.wait(timeout_s)

    def _hand_over(self) -> None:
        with self._lock:
            lines, self._pending = self._pending, []
        if lines:
            self._enqueue(lines)

    def _enqueue(self, lines: list[str]) -> None:
        with self._lock:
            room = max(0, self.max_lines - self._queued)
            if len(lines) > room:
                self._dropped += len(lines) - room
                if self.on_drop is not None:
                    self.on_drop(len(lines) - room)
                lines = lines[:room]
            if not lines:
                return
            self._queue.append(lines)
            self._queued += len(lines)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="catalog-log-writer", daemon=True
                )
                self._thread.start()
        self._wake.set()

    def _run(self) -> None:
        stream = self._stream or sys.__stdout__
        assert stream is not None
        while True:
            self._wake.wait()
            self._wake.clear()  # before taking lines: one queued from now on wakes us again
            while self._queue:
                self._write_batch(stream)

    def _write_batch(self, stream: TextIO) -> None:
        lines: list[str] = []
        markers: list[_Flushed] = []
        with self._lock:
            while self._queue:
                item = self._queue.popleft()
                if isinstance(item, _Flushed):
                    markers.append(item)
                else:
                    lines += item
            self._queued -= len(lines)
            dropped, self._dropped = self._dropped, 0
        if dropped:
            lines.append(_dropped_line(dropped))
        try:
            stream.write("".join(lines))
            stream.flush()
        except (OSError, ValueError):
            pass  # stdout is gone (closed pipe): nothing else can report it
        for marker in markers:
            marker.done.set()

    def _after_fork(self) -> None:
        """A forked child has the queue but not the thread: start afresh."""
        self._lock = threading.Lock()
        self._pending = []
        self._queue.clear()
        self._queued = 0
        self._wake = threading.Event()
        self._thread = None


_stamped: tuple[int, str] = (-1, "")  # the last whole second stamped, and its text


def utc_timestamp() -> str:
    """The text structlog's TimeStamper(fmt="iso", utc=True) writes for now, the date and
    time formatted once per second (a third of the cost; datetime.isoformat leaves out a
    zero fraction). Every line this package writes itself is stamped by it."""
    global _stamped
    now = time.time()
    second, text = _stamped  # one read: another thread may replace it
    if int(now) != second:
        second = int(now)
        text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        _stamped = (second, text)
    micros = int((now - second) * 1_000_000)
    return f"{text}.{micros:06d}Z" if micros else f"{text}Z"


def _dropped_line(count: int) -> str:
    line = {
        "count": count,
        "event": "log_lines_dropped",
        "level": "warning",
        "timestamp": utc_timestamp(),
    }
    return orjson.dumps(line).decode() + "\n"


LINES = LineWriter()
atexit.register(LINES.drain)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=LINES._after_fork)
