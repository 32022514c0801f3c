"""A clock that moves only when a test says so (catalog.core.clock.Clock)."""

from __future__ import annotations

import time
from datetime import UTC, datetime


class ManualClock:
    """Starts at the real time and then stands still; `advance` moves both readings."""

    def __init__(self) -> None:
        self._monotonic = time.monotonic()
        self._wall = time.time()

    def monotonic(self) -> float:
        return self._monotonic

    def time(self) -> float:
        return self._wall

    def now(self) -> datetime:
        return datetime.fromtimestamp(self._wall, UTC)

    def advance(self, seconds: float) -> None:
        self._monotonic += seconds
        self._wall += seconds
