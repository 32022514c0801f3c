"""HTTP routes of the graph: neighbours of a node and shortest paths (impact analysis).

Nodes are named `Label:id` (`DataProduct:0190…`, `Tag:…`) or by their bare id, whose kind the
catalog is asked for. Product lineage is served by the same store at
`GET /api/data-products/{id}/lineage` (api/products.py).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.core.error_schema import error_responses
from catalog.core.errors import Unprocessable
from catalog.graph import schemas
from catalog.graph.model import REL_TYPES, RelType
from catalog.graph.service import GraphService
from catalog.identity.principal import Actor
from catalog.server.deps import ResourcesDep, Session
from catalog.server.resources import Resources
from catalog.server.retrying_route import RetryingRoute
from catalog.server.roles import Viewer

GRAPH = "/api/graph"
NODE = "An id, or Label:id"
NodeParam = Annotated[str, Query(min_length=3, max_length=100, description=NODE)]

router = APIRouter(tags=["graph"], route_class=RetryingRoute)


def for_request(session: AsyncSession, actor: Actor, resources: Resources) -> GraphService:
    """The service over the app's configured store and breaker (here, at the HTTP edge, so
    that graph/service.py needs nothing of `Resources`; api/products.py uses it too)."""
    return GraphService(
        session,
        actor,
        resources.graph,
        resources.graph_worker.breaker if resources.graph_worker is not None else None,
        resources.settings.unavailable_retry_after_s,
    )


@router.get(GRAPH + "/neighbours", responses=error_responses(404, 503))
async def neighbours(
    session: Session,
    actor: Viewer,
    resources: ResourcesDep,
    node: NodeParam,
    direction: Literal["out", "in", "both"] = "both",
    types: Annotated[
        str | None, Query(max_length=200, description="Comma-separated relationship types")
    ] = None,
    limit: int = Query(100, ge=1, le=1000),
) -> schemas.NeighboursOut:
    """The nodes one relationship away; `truncated` when there are more than `limit`."""
    return await for_request(session, actor, resources).neighbours(
        node, direction, _types(types), limit
    )


@router.get(GRAPH + "/path", responses=error_responses(404, 503))
async def path(
    session: Session,
    actor: Viewer,
    resources: ResourcesDep,
    source: Annotated[str, Query(alias="from", min_length=3, max_length=100, description=NODE)],
    target: Annotated[str, Query(alias="to", min_length=3, max_length=100, description=NODE)],
    max_depth: int = Query(6, ge=1, le=20, description="Longest path looked for"),
) -> schemas.PathOut:
    """A shortest path between two nodes over any relationship, either way round (what a
    change to one may affect); `found: false` when none is `max_depth` or shorter."""
    depth = min(max_depth, resources.settings.lineage_max_depth)
    return await for_request(session, actor, resources).path(source, target, depth)


def _types(text: str | None) -> list[RelType] | None:
    if text is None:
        return None
    names = [t.strip() for t in text.split(",") if t.strip()]
    unknown = sorted(set(names) - set(REL_TYPES))
    if unknown or not names:
        raise Unprocessable(f"types must be among {', '.join(REL_TYPES)}; got {text!r}")
    return names  # type: ignore[return-value]
