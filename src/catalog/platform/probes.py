"""Probes and the metrics scrape: `/livez`, `/readyz`, `/healthz`, `/metrics`.

Each configured dependency is checked with a short timeout, concurrently, so one slow
dependency cannot make a probe hang past the load balancer's own timeout.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Response
from sqlalchemy import text

from catalog import __version__
from catalog.deps import ResourcesDep
from catalog.platform.breaker import REGISTRY as BREAKERS
from catalog.platform.errors import ServiceUnavailable
from catalog.platform.metrics import metrics_payload
from catalog.resources import Resources

router = APIRouter(tags=["probes"])
BEHIND_S = 5.0  # a search index further behind than this is reported `behind`

Check = Callable[[], Awaitable[object]]


def dependency_checks(resources: Resources) -> dict[str, Check]:
    checks: dict[str, Check] = {}

    async def database() -> object:
        async with resources.engine.connect() as connection:
            return await connection.scalar(text("SELECT 1"))

    checks["database"] = database
    if resources.redis is not None:
        redis = resources.redis

        async def redis_ping() -> object:
            return await redis.ping()

        checks["redis"] = redis_ping
    return checks


async def _run(check: Check, limit_s: float) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        async with asyncio.timeout(limit_s):
            await check()
        status, error = "up", None
    except TimeoutError:
        status, error = "down", f"no answer within {limit_s:g}s"
    except Exception as exc:  # any failure of the dependency means "down", reported by type
        status, error = "down", type(exc).__name__
    result: dict[str, Any] = {
        "status": status,
        "latency_ms": round((time.perf_counter() - started) * 1000, 2),
    }
    if error:
        result["error"] = error
    return result


async def check_dependencies(resources: Resources) -> dict[str, dict[str, Any]]:
    checks = dependency_checks(resources)
    timeout = resources.settings.dependency_timeout_s
    results = await asyncio.gather(*(_run(check, timeout) for check in checks.values()))
    return dict(zip(checks, results, strict=True))


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
        "circuit_breakers": {name: b.snapshot() for name, b in sorted(BREAKERS.items())},
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
async def metrics() -> Response:
    body, content_type = metrics_payload()
    return Response(body, media_type=content_type)
