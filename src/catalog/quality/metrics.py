"""The quality score gauge, one series per data element, under a cap on how many series.

Why a cap: the gauge is labelled by `data_element_id`, and every label value is a time series
Prometheus keeps in memory and on disk. A catalog with a hundred thousand elements would mint
a hundred thousand series, enough to slow or topple the monitoring that is meant to watch the
service. So the first `CATALOG_QUALITY_METRIC_MAX_SERIES` (default 1000) elements measured by
this process get a series; later elements are not exported (their scores are in the database
and the API all the same) and each of their measurements counts in
`catalog_quality_metric_series_dropped_total`, so the cap is visible. Elements already
exported keep updating.

The state is per process, like the default Prometheus registry the metrics live in (created
once, at import): each replica or worker exports its own first elements. A deleted element's
series is not removed; it stays (with its last score) until the process restarts, and keeps
its place under the cap. Removing it would take a hook in the registry's delete path for
little gain: the cap already bounds the total.

`ExportedSeries.reset()` forgets the exported set and removes its series; tests call it to
start from an empty cap, since the registry is global across the apps a test session builds.
"""

from __future__ import annotations

import contextlib
import threading

from prometheus_client import Counter, Gauge

QUALITY_SCORE = Gauge(
    "catalog_data_element_quality_score",
    "Latest overall quality score (0..1) of a data element",
    ("data_element_id",),
    multiprocess_mode="mostrecent",
)
SERIES_DROPPED = Counter(
    "catalog_quality_metric_series_dropped_total",
    "Quality measurements not exported because the element series cap was reached",
)


class ExportedSeries:
    """Which elements have a series in this process, and the cap on how many may."""

    def __init__(self) -> None:
        self._ids: set[str] = set()
        self._lock = threading.Lock()

    def admit(self, element_id: str, max_series: int) -> bool:
        """Whether the element has, or may now take, one of `max_series` series."""
        with self._lock:
            if element_id in self._ids:
                return True
            if len(self._ids) >= max_series:
                return False
            self._ids.add(element_id)
            return True

    def __len__(self) -> int:
        return len(self._ids)

    def reset(self) -> None:
        with self._lock:
            for element_id in self._ids:
                with contextlib.suppress(KeyError):  # admitted, not yet set
                    QUALITY_SCORE.remove(element_id)
            self._ids.clear()


EXPORTED = ExportedSeries()


def observe_quality_score(element_id: str, score: float, max_series: int) -> bool:
    """Export an element's latest score, unless that would exceed the cap; True if exported."""
    if EXPORTED.admit(element_id, max_series):
        QUALITY_SCORE.labels(element_id).set(score)
        return True
    SERIES_DROPPED.inc()
    return False
