"""Which buckets a request draws from.

Every non-exempt request draws from the global bucket and from one bucket of its client: the
general per-IP bucket, or, on a route that declares its own limit with `@endpoint_limit`, that
route's per-client bucket instead (the guide's search endpoint allows 200/min per client where
the default is 100/min; checking both would let the stricter default win and make the
declaration meaningless). `CATALOG_RATE_LIMIT_ENDPOINTS` overrides declared limits.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from starlette.routing import Match
from starlette.types import Scope

from catalog.core.routes import flat_routes
from catalog.ratelimit.buckets import Check, Limit
from catalog.settings import Settings

F = TypeVar("F", bound=Callable[..., Any])
ATTRIBUTE = "__catalog_rate_limit__"
EXEMPT_PATHS = frozenset({"/livez", "/readyz", "/healthz", "/metrics"})


def endpoint_limit(per_minute: float, burst: int) -> Callable[[F], F]:
    """Declare a route's own per-client limit, next to the route."""

    def mark(endpoint: F) -> F:
        setattr(endpoint, ATTRIBUTE, (per_minute, burst))
        return endpoint

    return mark


class Policy:
    def __init__(self, settings: Settings) -> None:
        self.global_limit = Limit(
            "global", settings.rate_limit_global_rps, settings.rate_limit_global_burst
        )
        self.ip_limit = Limit("ip", settings.rate_limit_per_ip_rps, settings.rate_limit_burst)
        self.overrides = {
            name.strip(): _parse_override(name, value)
            for name, value in settings.rate_limit_endpoints.items()
        }
        self._limited: list[tuple[Any, set[str], str, Limit]] | None = None

    @property
    def longest_window_s(self) -> float:
        return float(max(self.global_limit.window_s, self.ip_limit.window_s, 60))

    def checks(self, scope: Scope, client: str) -> list[Check]:
        found = self._endpoint_limit(scope)
        if found is None:
            return [Check(self.global_limit, "global"), Check(self.ip_limit, f"ip:{client}")]
        name, limit = found
        return [Check(self.global_limit, "global"), Check(limit, f"ep:{name}:{client}")]

    def _endpoint_limit(self, scope: Scope) -> tuple[str, Limit] | None:
        """The limit of the request's route, matching only the few routes that have one."""
        if self._limited is None:
            self._limited = self._limited_routes(scope["app"])
        for route, methods, name, limit in self._limited:
            if scope["method"] in methods and route.matches(scope)[0] is Match.FULL:
                return name, limit
        return None

    def _limited_routes(self, app: Any) -> list[tuple[Any, set[str], str, Limit]]:
        found = []
        for route in flat_routes(app):
            for method in getattr(route, "methods", None) or ():
                name = f"{method} {getattr(route, 'path', '')}"
                declared = getattr(getattr(route, "endpoint", None), ATTRIBUTE, None)
                per_minute_burst = self.overrides.get(name, declared)
                if per_minute_burst:
                    limit = Limit("endpoint", per_minute_burst[0] / 60.0, per_minute_burst[1])
                    found.append((route, {method}, name, limit))
        return found


def _parse_override(name: str, value: str) -> tuple[float, int]:
    try:
        per_minute, burst = value.split("/")
        return float(per_minute), int(burst)
    except ValueError:
        raise ValueError(
            f"CATALOG_RATE_LIMIT_ENDPOINTS[{name!r}] must be 'per_minute/burst', got {value!r}"
        ) from None
