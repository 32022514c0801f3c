"""The search index's metrics (names fixed by API.md where it names them)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

INDEX_LAG = Gauge(
    "catalog_search_index_lag_seconds",
    "Age of the oldest catalog change the search index has not applied yet (0: caught up)",
    multiprocess_mode="livemax",
)
INDEX_PENDING = Gauge(
    "catalog_search_index_pending_changes",
    "Catalog changes the search index has not applied yet (as of the writer's last round)",
    multiprocess_mode="livemax",
)
INDEX_DOCUMENTS = Gauge(
    "catalog_search_index_documents",
    "Data products in the search index",
    multiprocess_mode="livemax",
)
INDEX_COMMITS = Counter(
    "catalog_search_index_commits_total", "Commits of the search index writer", ("outcome",)
)
INDEX_REBUILDS = Counter(
    "catalog_search_index_rebuilds_total", "Full rebuilds of the search index", ("reason",)
)
QUERY_DURATION = Histogram(
    "catalog_search_query_duration_seconds",
    "Time a search engine call took in its thread (off the event loop)",
    ("kind",),
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
)
