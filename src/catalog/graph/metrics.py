"""Metrics of the graph database adapters (Neo4j, FalkorDB), named by the readiness guide.

Registered whether or not a graph database is configured, so dashboards and alert rules can
refer to them; they stay empty until a Cypher adapter runs queries.
"""

from __future__ import annotations

from prometheus_client import Gauge, Histogram

QUERY_DURATION = Histogram(
    "catalog_neo4j_query_duration_seconds",
    "Graph database query latency",
    ("query_type", "status"),
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
POOL_SIZE = Gauge(
    "catalog_neo4j_connection_pool_size",
    "Graph database driver connections by state",
    ("state",),
    multiprocess_mode="livesum",
)
