"""Waiting for the search index, through the HTTP surface (as an operator would watch it)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from httpx import AsyncClient

from catalog.search.projector import PROJECTOR_TASK
from tests.support.wait import until

DEADLINE_S = 15.0


def by_search_writer() -> bool:
    """Whether the running code is the search index writer's background task (its reads,
    commits and prunes are not the request's a test is looking at)."""
    task = asyncio.current_task()
    return task is not None and task.get_name() == PROJECTOR_TASK


async def search_status(client: AsyncClient) -> dict[str, Any]:
    health = (await client.get("/healthz")).json()
    status: dict[str, Any] = health["search"]
    return status


async def caught_up(
    client: AsyncClient, *, usage_since: datetime | None = None, timeout: float = DEADLINE_S
) -> dict[str, Any]:
    """Wait until this app's search index holds every committed change (and, with
    `usage_since`, usage counters as of that moment), at most `timeout` seconds."""
    seen: dict[str, Any] = {}

    async def done() -> dict[str, Any] | None:
        seen.clear()
        seen.update(await search_status(client))
        if seen.get("status") != "ready" or seen.get("lag_changes") != 0:
            return None
        if usage_since is not None:
            folded = seen.get("usage_folded_until")
            if folded is None or datetime.fromisoformat(folded) < usage_since:
                return None
        return dict(seen)

    return await until(done, lambda: f"the search index catching up ({seen})", timeout, 0.02)
