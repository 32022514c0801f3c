"""Fixed path segments win over path parameters, for every method.

Starlette (and FastAPI) try routes in order and take the first whose path *and* method match;
a route whose path matches but not its method is only kept for a 405. So with
`POST /api/data-products/bulk` beside `GET|PATCH|DELETE /api/data-products/{product_id}`,
`GET /api/data-products/bulk` reached the product route (404 "data product bulk not found") and
`OPTIONS` got a 405 whose `Allow` merged both routes.

`install(app)` gives every route with a parameter the list of its refinements: routes whose paths
it matches too, with a literal segment where it has a parameter (`/api/data-products/bulk`
refines `/api/data-products/{product_id}`, `/catalog/data-elements/bulk` refines
`/catalog/data-elements/{element_id:path}`). While a
refinement's path matches the request, the general route declines it (`matches` answers NONE),
so routing, the `Allow` header (routes.allowed_methods) and metric labels (routes.find_route)
see only the fixed route: the right handler, or a 405 listing its methods.

Route objects are module-level and shared by every app built in the process (tests build
many), so the refinements are kept per app and looked up from `scope["app"]`. Only routes the
router asks for `matches` are affected: FastAPI's APIRoutes in included routers and every
route of the app's own router (plain routes inside included routers are copied by FastAPI).
"""

from __future__ import annotations

import weakref
from enum import Enum
from typing import Any

from starlette.routing import Match, Route
from starlette.types import Scope

from catalog.core.routes import flat_routes

_MARK = "_catalog_declines_for_refinements"
_refinements: weakref.WeakKeyDictionary[Any, dict[int, tuple[Route, ...]]] = (
    weakref.WeakKeyDictionary()
)


class _Param(Enum):
    ONE = "one segment"  # {name}, {name:int}, ...
    REST = "the rest"  # {name:path}: any number of segments


Segment = str | _Param


def _segments(path: str) -> list[Segment]:
    def kind(part: str) -> Segment:
        if ":path}" in part:
            return _Param.REST
        return _Param.ONE if "{" in part else part

    return [kind(part) for part in path.strip("/").split("/")]


def refines(fixed: str, general: str) -> bool:
    """Whether `general` matches every path `fixed` matches, and `fixed` has a literal segment
    where `general` has a parameter."""
    mine, theirs = _segments(fixed), _segments(general)
    if _Param.REST in mine[:-1] or _Param.REST in theirs[:-1]:
        return False  # only a trailing {name:path} is understood; leave the rest to order
    if theirs[-1] is _Param.REST:
        head = theirs[:-1]
        if len(mine) <= len(head):
            return False
        narrower = any(isinstance(part, str) for part in mine[len(head) :])
    else:
        if mine[-1] is _Param.REST or len(mine) != len(theirs):
            return False
        head, narrower = theirs, False
    for own, other in zip(mine, head, strict=False):
        if isinstance(other, str):
            if own != other:
                return False
        elif own == "":
            return False  # `/`: a parameter never matches an empty segment
        elif isinstance(own, str):
            narrower = True
    return narrower


def install(app: Any) -> None:
    """Make the app's parameter routes decline requests their refinements match. Call it once
    the app's routes are final (at startup)."""
    routes = [route for route in flat_routes(app) if isinstance(route, Route)]
    found: dict[int, tuple[Route, ...]] = {}
    for route in routes:
        narrower = tuple(other for other in routes if refines(other.path, route.path))
        if narrower:
            found[id(route)] = narrower
            _decline_for_refinements(route)
    _refinements[app] = found


def _decline_for_refinements(route: Route) -> None:
    if getattr(route, _MARK, False):
        return  # already wrapped by an earlier app of this process
    own_matches = route.matches

    def matches(scope: Scope) -> tuple[Match, Scope]:
        narrower = _refinements.get(scope.get("app"), {}).get(id(route), ())
        for other in narrower:
            # Route.matches itself: the refinement's path, whatever the method.
            if Route.matches(other, scope)[0] is not Match.NONE:
                return Match.NONE, {}
        return own_matches(scope)

    route.matches = matches  # type: ignore[method-assign]
    setattr(route, _MARK, True)
