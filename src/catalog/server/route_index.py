"""Included routers that cannot hold a request's route decline it without trying their routes.

FastAPI (0.16x) tries the app's included routers in order, and each tries its routes in order:
a regex and a few scope updates per route, ~1.3 µs each here. With 140 routes in 33 entries,
matching `GET /api/discover/suggest` cost ~130 µs and a UI page ~180 µs before the handler
ran (measured: bench/README.md, "Search latency"), a fifth of what the event loop spends on a
suggestion. FastAPI has no routing table to turn on, so this is a small index of our own.

Every router of this project carries its full path prefix (core/routes.py), so the first two
segments of a path (`/api/discover/...`) say which routers can hold a route that matches it.
`install(app)` gives each included router the set of its routes' first two segments and a
`matches` that answers `Match.NONE` at once for a path whose first two segments are not in
it: the answer trying every route would have given, as none of them can match (fully, or by
path alone for a 405). A router with any route whose first two segments are not literal (a
parameter, a mount, a `{name:path}`) keeps trying its routes, as before.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

from starlette._utils import get_route_path
from starlette.routing import BaseRoute, Match, Route
from starlette.types import Scope

Head = tuple[str, ...]


@functools.lru_cache(maxsize=4096)
def head(path: str) -> Head:
    """The first two segments of a path (`/livez` -> ("livez",)); cached, as every included
    router asks it of the same path in turn."""
    return tuple(path.split("/", 3)[1:3])


def install(app: Any) -> None:
    """Index the app's included routers. Call it once the app's routes are final (at
    startup); the routers are the app's own (include_router makes one per include)."""
    for entry in app.router.routes:
        original = getattr(entry, "original_router", None)
        if original is None or "matches" in vars(entry):
            continue  # not an included router, or indexed by an earlier start of the app
        heads = literal_heads(original.routes, _prefix(entry))
        if heads is not None:
            _decline_other_heads(entry, frozenset(heads))


def literal_heads(routes: Iterable[BaseRoute], prefix: str = "") -> set[Head] | None:
    """The first two segments of every route (of nested routers too), under the prefix they
    were included with; None when one of them is not a literal (that router must try its
    routes for any path)."""
    found: set[Head] = set()
    for route in routes:
        nested = getattr(route, "original_router", None)
        if nested is not None:
            inner = literal_heads(nested.routes, prefix + _prefix(route))
            if inner is None:
                return None
            found |= inner
            continue
        if not isinstance(route, Route):
            return None  # a mount matches by prefix
        route_head = head(prefix + route.path)
        if any("{" in part for part in route_head):
            return None
        found.add(route_head)
    return found


def _prefix(included: Any) -> str:
    """The prefix given to `include_router` (ours give none: routers carry their own)."""
    return str(getattr(getattr(included, "include_context", None), "prefix", "") or "")


def _decline_other_heads(entry: Any, heads: frozenset[Head]) -> None:
    own_matches = entry.matches

    def matches(scope: Scope) -> tuple[Match, Scope]:
        if head(get_route_path(scope)) not in heads:
            return Match.NONE, {}
        result: tuple[Match, Scope] = own_matches(scope)
        return result

    entry.matches = matches
