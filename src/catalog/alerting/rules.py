"""The alert rules: what is wrong right now, given the traffic window and the dependencies.

Each evaluation returns the set of conditions currently true, as `Signal`s keyed by a
fingerprint (a hash of the alert type and its distinguishing labels). A fingerprint present
now and absent before fires; absent now and present before resolves. Rules:

- high_latency: p95 over the window above `ALERT_MAX_LATENCY_MS` (ignoring windows with
  fewer than `CATALOG_ALERT_MIN_REQUESTS` requests);
- slow_request: a route answered a request slower than `ALERT_MAX_LATENCY_MS` in the window;
- server_error: a route answered a 5xx in the window (one alert per route and status);
- error_rate: 5xx above `ALERT_ERROR_THRESHOLD` percent of the window's requests (same
  minimum);
- rate_limit_storm: 429s above `CATALOG_ALERT_RATE_LIMITED_PERCENT` percent (same minimum);
- dependency_down: a configured dependency (database, Redis) fails its readiness check.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from catalog.alerting.window import RequestWindow
from catalog.settings import Settings


@dataclass(frozen=True)
class Signal:
    alert_type: str
    severity: str  # critical | warning
    summary: str
    description: str
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def fingerprint(self) -> str:
        key = self.alert_type + "|" + "|".join(f"{k}={v}" for k, v in sorted(self.labels.items()))
        return hashlib.sha256(key.encode()).hexdigest()[:32]


def evaluate(window: RequestWindow, settings: Settings, down: list[str]) -> dict[str, Signal]:
    stats = window.stats()
    limit_s = settings.alert_max_latency_ms / 1000
    enough = stats.requests >= settings.alert_min_requests
    signals: list[Signal] = []
    if enough and stats.p95_s is not None and stats.p95_s > limit_s:
        signals.append(
            Signal(
                "high_latency",
                "warning",
                f"p95 latency {stats.p95_s * 1000:.0f} ms over {settings.alert_max_latency_ms} ms",
                f"the 95th percentile of the last {window.window_s:g}s ({stats.requests} "
                f"requests) is {stats.p95_s * 1000:.0f} ms",
            )
        )
    for route, slowest in sorted(window.slow_routes(limit_s).items()):
        signals.append(
            Signal(
                "slow_request",
                "warning",
                f"{route} took {slowest * 1000:.0f} ms",
                f"a request to {route} took longer than {settings.alert_max_latency_ms} ms",
                {"endpoint": route},
            )
        )
    for (route, status), count in sorted(window.failing_routes().items()):
        signals.append(
            Signal(
                "server_error",
                "critical",
                f"{route} answered {status}",
                f"{count} answer(s) with status {status} from {route} in the last "
                f"{window.window_s:g}s",
                {"endpoint": route, "status": str(status)},
            )
        )
    if enough and stats.error_percent > settings.alert_error_threshold:
        signals.append(
            Signal(
                "error_rate",
                "critical",
                f"{stats.error_percent:.1f}% of requests failed (threshold "
                f"{settings.alert_error_threshold:g}%)",
                f"{stats.server_errors} of {stats.requests} requests answered 5xx in the last "
                f"{window.window_s:g}s",
            )
        )
    if enough and stats.rate_limited_percent > settings.alert_rate_limited_threshold:
        signals.append(
            Signal(
                "rate_limit_storm",
                "warning",
                f"{stats.rate_limited_percent:.1f}% of requests were rate limited",
                f"{stats.rate_limited} of {stats.requests} requests answered 429 in the last "
                f"{window.window_s:g}s",
            )
        )
    for dependency in down:
        signals.append(
            Signal(
                "dependency_down",
                "critical",
                f"{dependency} is down",
                f"the readiness check of {dependency} fails",
                {"dependency": dependency},
            )
        )
    return {signal.fingerprint: signal for signal in signals}
