"""Is each dependency up: the checks behind /readyz, /healthz and the `dependency_down` alert.

Each configured dependency is checked with a short timeout, concurrently, so one slow
dependency cannot make a probe hang past the load balancer's own timeout. It takes the engine
and the Redis client rather than `Resources`, so that both `Resources` (for the alert engine)
and the probes (for the routes) can import it without importing each other.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

Check = Callable[[], Awaitable[object]]


def dependency_checks(engine: AsyncEngine, redis: aioredis.Redis | None) -> dict[str, Check]:
    checks: dict[str, Check] = {}

    async def database() -> object:
        async with engine.connect() as connection:
            return await connection.scalar(text("SELECT 1"))

    checks["database"] = database
    if redis is not None:
        client = redis

        async def redis_ping() -> object:
            return await client.ping()

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


async def check_dependencies(
    engine: AsyncEngine, redis: aioredis.Redis | None, timeout_s: float
) -> dict[str, dict[str, Any]]:
    checks = dependency_checks(engine, redis)
    results = await asyncio.gather(*(_run(check, timeout_s) for check in checks.values()))
    return dict(zip(checks, results, strict=True))
