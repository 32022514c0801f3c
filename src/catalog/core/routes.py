"""Which route template a request belongs to, even before (or without) routing.

Middleware outside the router (metrics, rate limits) needs the template. After routing,
FastAPI leaves the matched APIRoute in `scope["route"]`; for requests answered before routing
(a 413, a 429) we match the path against the app's routes ourselves.

FastAPI >= 0.16x keeps included routers as wrappers instead of copying their routes, and a
prefix given to `include_router` is not part of `route.path`. So routers in this project carry
their full prefix themselves (`APIRouter(prefix="/api/tags")`) and are included without one;
`flat_routes` walks the wrappers.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from starlette.routing import BaseRoute, Match
from starlette.types import Scope

UNMATCHED = "unmatched"

# Kept on the app's own state, so it lives and dies with the app. (A WeakKeyDictionary keyed by
# the app never let go: its routes' endpoints reach the app, and every app a test session
# built stayed alive, ~15k objects each, until full collections took seconds.)
_FLAT_ROUTES = "catalog_flat_routes"


def _walk(routes: list[BaseRoute]) -> Iterator[BaseRoute]:
    for route in routes:
        original = getattr(route, "original_router", None)
        if original is not None:
            yield from _walk(original.routes)
        else:
            yield route


def flat_routes(app: Any) -> tuple[BaseRoute, ...]:
    """Every leaf route of the app (APIRoutes and plain routes), in matching order."""
    cached: tuple[BaseRoute, ...] | None = getattr(app.state, _FLAT_ROUTES, None)
    if cached is None:
        cached = tuple(_walk(app.router.routes))
        setattr(app.state, _FLAT_ROUTES, cached)
    return cached


def find_route(scope: Scope) -> BaseRoute | None:
    app = scope.get("app")
    if app is None:
        return None
    partial = None
    for route in flat_routes(app):
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return route
        if match is Match.PARTIAL and partial is None:
            partial = route
    return partial


def route_template(scope: Scope) -> str:
    route = scope.get("route")
    if route is None:
        route = find_route(scope)
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED


def allowed_methods(scope: Scope) -> list[str]:
    """Every method any route answers on this path (for the `Allow` header of a 405)."""
    methods: set[str] = set()
    probe = dict(scope, method="\x00")
    for route in flat_routes(scope["app"]):
        match, _ = route.matches(probe)
        if match is not Match.NONE:
            methods |= set(getattr(route, "methods", None) or ())
    return sorted(methods)
