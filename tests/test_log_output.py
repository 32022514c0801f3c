"""The log writer: lines reach stdout in order, in batches, off the event loop; a reader that
stops reading costs lines only past the bound, and every dropped line is counted and said."""

from __future__ import annotations

import asyncio
import io
import json
import os
import threading
from collections.abc import Iterator

import pytest
from prometheus_client import REGISTRY

from catalog.core.log_output import LINES, LineWriter
from catalog.observability.metrics import LOG_LINES_DROPPED
from tests.support.wait import until_sync


@pytest.fixture
def pipe() -> Iterator[tuple[io.TextIOWrapper, io.TextIOWrapper]]:
    read_fd, write_fd = os.pipe()
    reader = open(read_fd, encoding="utf-8")  # noqa: SIM115 - closed below
    writer = open(write_fd, "w", encoding="utf-8")  # noqa: SIM115 - closed below
    yield reader, writer
    writer.close()
    reader.close()


def dropped_total() -> float:
    return REGISTRY.get_sample_value("catalog_log_lines_dropped_total") or 0.0


def read_lines(reader: io.TextIOWrapper, count: int) -> list[str]:
    """`count` lines from the pipe, read in a thread so a writer that never writes them fails
    the test at the deadline instead of hanging it."""
    lines: list[str] = []

    def read() -> None:
        for _ in range(count):
            lines.append(reader.readline())

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    until_sync(lambda: not thread.is_alive(), what=f"{count} lines written", timeout_s=10)
    return lines


def test_lines_logged_on_a_loop_arrive_in_order(
    pipe: tuple[io.TextIOWrapper, io.TextIOWrapper],
) -> None:
    reader, stream = pipe
    writer = LineWriter(stream=stream)

    async def log_across_iterations() -> None:
        for i in range(300):
            writer.write(f"line {i}\n")
            if i % 7 == 0:
                await asyncio.sleep(0)  # a new loop iteration: a new batch

    asyncio.run(log_across_iterations())
    writer.write("from outside a loop\n")
    assert writer.drain()
    lines = read_lines(reader, 301)
    assert lines == [f"line {i}\n" for i in range(300)] + ["from outside a loop\n"]


def test_a_stuck_reader_drops_lines_past_the_bound_and_says_how_many(
    pipe: tuple[io.TextIOWrapper, io.TextIOWrapper],
) -> None:
    reader, stream = pipe
    writer = LineWriter(max_lines=3, stream=stream)
    writer.on_drop = LOG_LINES_DROPPED.inc  # what the service's writer is given
    before = dropped_total()
    big = "x" * 100_000 + "\n"  # more than a pipe holds: the thread blocks writing it
    writer.write(big)
    until_sync(lambda: writer.queued == 0, what="the writer took the first line")
    for i in range(6):
        writer.write(f"line {i}\n")  # three wait in the queue, three are dropped
    assert dropped_total() == before + 3
    lines = read_lines(reader, 5)
    assert lines[0] == big
    assert lines[1:4] == ["line 0\n", "line 1\n", "line 2\n"]
    notice = json.loads(lines[4])
    assert (notice["event"], notice["count"], notice["level"]) == (
        "log_lines_dropped",
        3,
        "warning",
    )
    assert writer.drain()


def test_lines_for_a_replaced_stdout_are_written_at_once(
    capsys: pytest.CaptureFixture[str],
) -> None:
    writer = LineWriter()  # the process's writer: stdout is pytest's capture here
    writer.write("captured\n")
    assert capsys.readouterr().out == "captured\n"
    assert writer.queued == 0  # nothing was queued: nothing to wait for
    assert writer.drain()
    assert LINES.on_drop == LOG_LINES_DROPPED.inc  # the service's drops are counted


def test_after_stop_lines_are_written_at_once_behind_the_queued_ones(
    pipe: tuple[io.TextIOWrapper, io.TextIOWrapper],
) -> None:
    """What the app's shutdown relies on: the server's last lines are out before it exits."""
    reader, stream = pipe
    writer = LineWriter(stream=stream)
    writer.write("queued\n")
    assert writer.stop()
    writer.write("at once\n")
    assert writer.queued == 0
    assert read_lines(reader, 2) == ["queued\n", "at once\n"]
