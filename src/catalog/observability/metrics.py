"""Prometheus metrics: definitions, the HTTP observation middleware and the `/metrics` body.

Exactly one observation per request, taken at the outermost point that knows the final status
(so 404, 413, 429 and 500 are counted like any other answer). The `endpoint` label is the route
template, never the raw path: ids in URLs would otherwise mint a series per resource.
"""

from __future__ import annotations

import asyncio
import os
import time
from bisect import bisect_left
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from catalog.core.client_address import IPNetwork, client_identity
from catalog.core.log_output import LINES
from catalog.core.logging import access_log_enabled, write_line
from catalog.core.routes import UNMATCHED, route_template

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
SIZE_BUCKETS = (100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000)
HTTP_LABELS = ("method", "endpoint", "status")
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

REQUEST_DURATION = Histogram(
    "catalog_request_duration_seconds",
    "HTTP request latency, from first byte in to last byte out",
    HTTP_LABELS,
    buckets=LATENCY_BUCKETS,
)
REQUESTS = Counter("catalog_requests_total", "HTTP requests answered", HTTP_LABELS)
REQUEST_SIZE = Histogram(
    "catalog_request_size_bytes", "HTTP request body size", HTTP_LABELS, buckets=SIZE_BUCKETS
)
RESPONSE_SIZE = Histogram(
    "catalog_response_size_bytes", "HTTP response body size", HTTP_LABELS, buckets=SIZE_BUCKETS
)

LOG_LINES_DROPPED = Counter(
    "catalog_log_lines_dropped_total",
    "Log lines dropped because stdout did not take them in time (core/log_output.py)",
)
LINES.on_drop = LOG_LINES_DROPPED.inc

# Work the service has accepted and not finished in the background, one series per queue
# (alert deliveries, search history, graph outbox): a depth that only grows means a stuck
# worker or a dependency that stays down.
QUEUE_DEPTH = Gauge(
    "catalog_background_queue_depth",
    "Items waiting in a background queue",
    ("queue",),
    multiprocess_mode="livesum",
)


class _Series(NamedTuple):
    duration: Any
    requests: Any
    request_size: Any
    response_size: Any


# The labelled children, looked up once per label set: `labels()` costs microseconds a call.
# Bounded because methods, route templates and statuses are all finite sets.
_children: dict[tuple[str, str, int], _Series] = {}


def _series(method: str, endpoint: str, status: int) -> _Series:
    key = (method, endpoint, status)
    found = _children.get(key)
    if found is None:
        labels = (method, endpoint, str(status))
        found = _Series(
            REQUEST_DURATION.labels(*labels),
            REQUESTS.labels(*labels),
            REQUEST_SIZE.labels(*labels),
            RESPONSE_SIZE.labels(*labels),
        )
        _children[key] = found
    return found


def _declared_length(scope: Scope) -> int:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            return int(value) if value.isdigit() else 0
    return 0


# Refreshed right before each scrape, by name: work cheaper to do then than on every request.
BEFORE_SCRAPE: dict[str, Callable[[], None]] = {}

# Observations waiting to reach the metrics and the alert window. Recording a request is an
# append; turning it into histogram and counter updates (each taking a lock) happens in
# batches: before every scrape and every FLUSH_EVERY_S in the background, so counts are exact
# at scrape time and at most FLUSH_EVERY_S old in other workers' files. This keeps the cost
# of observing a request to about a microsecond of the request's own time.
_PENDING: deque[tuple[str, str, int, float, int, int, Any, float]] = deque()
FLUSH_AT = 10_000
FLUSH_EVERY_S = 0.5
# The background fold works in chunks with a yield to the loop between them: folding half a
# second of traffic at once stalls every request in flight (2,500 observations, half a second
# at 5,000 req/s, take ~12 ms here; a chunk of 256 ~1.2 ms).
FLUSH_CHUNK = 256


def flush_observations(limit: int | None = None) -> None:
    """Fold waiting observations into the metrics: all of them, or at most `limit`.

    Grouped by label set first, so each series is updated once per fold instead of once per
    request: a counter gets the group's count, a histogram each bucket's count and the sum
    (`observe_many`). 10 µs per request became ~2 here."""
    left = len(_PENDING) if limit is None else min(limit, len(_PENDING))
    groups: dict[tuple[str, str, int], tuple[list[float], list[int], list[int]]] = {}
    for _ in range(left):
        method, endpoint, status, duration, request_bytes, response_bytes, alerts, at = (
            _PENDING.popleft()
        )
        key = (method, endpoint, status)
        group = groups.get(key)
        if group is None:
            group = groups[key] = ([], [], [])
        group[0].append(duration)
        group[1].append(request_bytes)
        group[2].append(response_bytes)
        if alerts is not None:
            alerts.window.record_at(at, endpoint, status, duration)
    for (method, endpoint, status), (durations, request_sizes, response_sizes) in groups.items():
        series = _series(method, endpoint, status)
        series.requests.inc(len(durations))
        observe_many(series.duration, durations)
        observe_many(series.request_size, request_sizes)
        observe_many(series.response_size, response_sizes)


def observe_many(histogram: Any, values: Sequence[float]) -> None:
    """`histogram.observe(v)` for every value, with one update per bucket and one of the sum.

    Reaches into prometheus_client's histogram child (`_upper_bounds`, `_buckets`, `_sum`,
    the very fields `observe` updates: a bucket holds the observations whose value is at most
    its bound and above the previous one); tests/test_metrics.py checks the result against
    `observe` itself, so a release that changes them fails there, not in production."""
    bounds = histogram._upper_bounds
    counts = [0] * len(bounds)
    for value in values:
        counts[bisect_left(bounds, value)] += 1
    for index, count in enumerate(counts):
        if count:
            histogram._buckets[index].inc(count)
    histogram._sum.inc(sum(values))


BEFORE_SCRAPE["http_observations"] = flush_observations


async def flush_periodically() -> None:
    """Background task (one per app's lifespan): keep other workers' files fresh."""
    while True:
        await asyncio.sleep(FLUSH_EVERY_S)
        while _PENDING:
            flush_observations(FLUSH_CHUNK)
            await asyncio.sleep(0)  # requests in flight run between chunks


def metrics_payload() -> tuple[bytes, str]:
    """This process's metrics, or, under `catalog serve --workers N`, every worker's.

    With several workers prometheus_client runs in multiprocess mode: each worker writes its
    samples to files in `PROMETHEUS_MULTIPROC_DIR` (set and emptied by `catalog serve`), and a
    scrape, whichever worker answers it, reads them all.
    """
    for refresh in list(BEFORE_SCRAPE.values()):
        refresh()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


class AccessMiddleware:
    """Observe every request once: the four HTTP metrics and one JSON access-log line.

    It also settles who the client is, once, for everything after it (`state["client_ip"]`
    for audit lines and this log line, `state["client_key"]` for the rate-limit bucket): the
    peer, or behind a TRUSTED_PROXIES proxy the address its X-Forwarded-For names
    (core/client_address.py)."""

    def __init__(self, app: ASGIApp, trusted_proxies: Sequence[IPNetwork] = ()) -> None:
        self.app = app
        self.trusted_proxies = tuple(trusted_proxies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client, key = client_identity(scope, self.trusted_proxies)
        state = scope.setdefault("state", {})
        state["client_ip"], state["client_key"] = client, key
        started = time.perf_counter()
        request_bytes = 0
        response_bytes = 0
        status = 500

        async def counting_receive() -> Message:
            nonlocal request_bytes
            message = await receive()
            if message["type"] == "http.request":
                request_bytes += len(message.get("body", b""))
            return message

        async def counting_send(message: Message) -> None:
            nonlocal status, response_bytes
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                response_bytes += len(message.get("body", b""))
            await send(message)

        # Bodiless methods skip the receive wrapper: nothing to count, one frame less.
        wrapped = counting_receive if scope["method"] in BODY_METHODS else receive
        try:
            await self.app(scope, wrapped, counting_send)
        finally:
            duration = time.perf_counter() - started
            # A body refused unread (413, 415, 404) still had a size: the declared one.
            size = request_bytes or (
                _declared_length(scope) if scope["method"] in BODY_METHODS else 0
            )
            self._observe(scope, status, duration, size, response_bytes)

    @staticmethod
    def _observe(
        scope: Scope, status: int, duration: float, request_bytes: int, response_bytes: int
    ) -> None:
        method = scope["method"] if scope["method"] in KNOWN_METHODS else "OTHER"
        endpoint = route_template(scope)
        resources = (scope.get("state") or {}).get("catalog")
        alerts = resources.alerts if resources is not None else None
        _PENDING.append(
            (
                method,
                endpoint,
                status,
                duration,
                request_bytes,
                response_bytes,
                alerts,
                alerts.window.clock() if alerts is not None else 0.0,  # only the window reads it
            )
        )
        if len(_PENDING) > FLUSH_AT:
            flush_observations()
        if status < 500 and not access_log_enabled():
            return
        fields: dict[str, Any] = {
            "method": method,
            "route": endpoint,
            "status": status,
            "duration_ms": round(duration * 1000, 3),
            "request_bytes": request_bytes,
            "response_bytes": response_bytes,
        }
        if endpoint == UNMATCHED:
            fields["path"] = scope["path"][:200]
        client = scope.get("state", {}).get("client_ip")
        if client:
            fields["client"] = client
        write_line("warning" if status >= 500 else "info", "request", fields)
