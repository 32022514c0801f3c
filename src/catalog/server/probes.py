"""Probes and the metrics scrape: `/livez`, `/readyz`, `/healthz`, `/metrics`.

The checks themselves are in health.py (also used by the alert engine, through `Resources`);
this module is the HTTP edge: it reads `Resources` through the request's dependency.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from fastapi import APIRouter, Response

from catalog import __version__
from catalog.core.errors import ServiceUnavailable
from catalog.observability.metrics import metrics_payload
from catalog.server import health
from catalog.server.deps import ResourcesDep
from catalog.server.resources import Resources

router = APIRouter(tags=["probes"])
BEHIND_S = 5.0  # a search index further behind than this is reported `behind`


async def check_dependencies(resources: Resources) -> dict[str, dict[str, Any]]:
    return await health.check_dependencies(
        resources.engine, resources.redis, resources.settings.dependency_timeout_s
    )


@router.get("/livez", summary="The process is up")
async def livez() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Every configured dependency answers (503 names those down)")
async def readyz(resources: ResourcesDep) -> dict[str, Any]:
    results = await check_dependencies(resources)
    down = sorted(name for name, r in results.items() if r["status"] != "up")
    if down:
        error = ServiceUnavailable(
            f"not ready: {', '.join(down)} down",
            retry_after=resources.settings.unavailable_retry_after_s,
        )
        error.extra = {"down": down, "dependencies": results}
        raise error
    return {"status": "ready", "dependencies": results}


@router.get("/healthz", summary="Per-dependency detail, version and uptime")
async def healthz(resources: ResourcesDep) -> dict[str, Any]:
    results = await check_dependencies(resources)
    healthy = all(r["status"] == "up" for r in results.values())
    return {
        "status": "healthy" if healthy else "degraded",
        "version": __version__,
        "environment": resources.settings.environment,
        "database": resources.engine.dialect.name,
        "uptime_s": round(time.time() - resources.started_at, 1),
        "pid": os.getpid(),  # which worker answered (catalog serve --workers N)
        "circuit_breakers": {
            name: b.snapshot() for name, b in sorted(resources.breakers().items())
        },
        "cache": resources.cache.describe(),
        "graph": await _graph_status(resources),
        "search": await _search_status(resources),
        "dependencies": results,
    }


async def _graph_status(resources: Resources) -> dict[str, Any]:
    """The store in use and, when it is projected, how far behind the outbox is."""
    worker = resources.graph_worker
    if worker is None:
        return {"store": resources.graph.name, "projected": False}
    try:
        async with asyncio.timeout(2.0):
            return {"projected": True, **await worker.status()}
    except Exception as exc:  # the database is down: the dependencies above say so
        return {"store": resources.graph.name, "projected": True, "error": type(exc).__name__}


async def _search_status(resources: Resources) -> dict[str, Any]:
    """The index this process answers from, and how far behind the change log it is.

    `status`: `ready` (caught up, or behind by less than BEHIND_S), `behind`, `building` (no
    index yet: searches answer 503). A search index behind never makes /readyz fail: search
    answers from what it has, and every other endpoint is unaffected.
    """
    from catalog.changes.repository import ChangeLogRepository
    from catalog.search.projector import documents

    snapshot = resources.search_index.snapshot()
    report: dict[str, Any] = resources.search_projector.describe()
    if snapshot is None:
        return {"status": "building", "problem": resources.search_index.problem, **report}
    position = snapshot.state.position
    report |= {
        "generation": snapshot.generation,
        "documents": documents(snapshot.searcher, snapshot.schema),
        "position": position,
        "last_commit_age_s": round(max(0.0, time.time() - snapshot.state.committed_at), 3),
        "usage_folded_until": snapshot.state.usage_since,
    }
    try:
        async with asyncio.timeout(2.0), resources.read_sessions() as session:
            pending, oldest = await ChangeLogRepository(session).pending(position)
    except Exception as exc:  # the database is down: the dependencies say so
        return {"status": "unknown", "error": type(exc).__name__, **report}
    lag = max(0.0, time.time() - oldest.timestamp()) if oldest is not None else 0.0
    behind = pending > 0 and lag >= BEHIND_S
    return {
        "status": "behind" if behind else "ready",
        "lag_changes": pending,
        "lag_s": round(lag, 3),
        **report,
    }


@router.get("/metrics", summary="Prometheus text exposition", response_class=Response)
async def metrics(resources: ResourcesDep) -> Response:
    for breaker in resources.breakers().values():  # this app's, as they stand now
        breaker.publish()
    body, content_type = metrics_payload()
    return Response(body, media_type=content_type)
