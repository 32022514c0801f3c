"""The last few minutes of traffic, as the alert rules see it.

Every answered request is recorded (route template, status, duration): one `deque.append`,
cheap enough for the request path. Older entries fall out as the window moves; a hard cap
bounds memory under any load (the rules then see the most recent requests).
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

MAX_ENTRIES = 100_000


@dataclass(frozen=True)
class WindowStats:
    requests: int
    server_errors: int
    rate_limited: int
    p95_s: float | None

    @property
    def error_percent(self) -> float:
        return 100.0 * self.server_errors / self.requests if self.requests else 0.0

    @property
    def rate_limited_percent(self) -> float:
        return 100.0 * self.rate_limited / self.requests if self.requests else 0.0


class RequestWindow:
    def __init__(self, window_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.window_s = window_s
        self.clock = clock  # the engine's (Resources.clock); the metrics middleware stamps with it
        self._entries: deque[tuple[float, str, int, float]] = deque(maxlen=MAX_ENTRIES)

    def record(self, route: str, status: int, duration_s: float) -> None:
        self._entries.append((self.clock(), route, status, duration_s))

    def record_at(self, at: float, route: str, status: int, duration_s: float) -> None:
        """Record a request observed at `at` (monotonic time), delivered in a batch later."""
        self._entries.append((at, route, status, duration_s))

    def snapshot(self) -> RequestWindow:
        """The window as it is now, frozen (its own entries and clock), for the rules to walk
        off the event loop: they visit every entry, ~50 ms at the cap on this machine, which
        held every request in flight when done on the loop every ALERT_CHECK_INTERVAL_S."""
        self._trim()
        now = self.clock()
        frozen = RequestWindow(self.window_s, lambda: now)
        frozen._entries = deque(self._entries, maxlen=MAX_ENTRIES)
        return frozen

    def _trim(self) -> None:
        cutoff = self.clock() - self.window_s
        while self._entries and self._entries[0][0] < cutoff:
            self._entries.popleft()

    def stats(self) -> WindowStats:
        self._trim()
        durations = sorted(entry[3] for entry in self._entries)
        p95 = durations[max(0, math.ceil(0.95 * len(durations)) - 1)] if durations else None
        return WindowStats(
            requests=len(durations),
            server_errors=sum(1 for entry in self._entries if entry[2] >= 500),
            rate_limited=sum(1 for entry in self._entries if entry[2] == 429),
            p95_s=p95,
        )

    def slow_routes(self, threshold_s: float) -> dict[str, float]:
        """Routes with a request slower than the threshold in the window: their slowest."""
        self._trim()
        slow: dict[str, float] = {}
        for _, route, _, duration in self._entries:
            if duration > threshold_s:
                slow[route] = max(duration, slow.get(route, 0.0))
        return slow

    def failing_routes(self) -> dict[tuple[str, int], int]:
        """(route, 5xx status) pairs seen in the window, with how often."""
        self._trim()
        seen: dict[tuple[str, int], int] = {}
        for _, route, status, _ in self._entries:
            if status >= 500:
                seen[(route, status)] = seen.get((route, status), 0) + 1
        return seen
