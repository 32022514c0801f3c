"""The Resources of an app a test started with asgi-lifespan's LifespanManager.

The lifespan returns Resources as the ASGI lifespan state (`{"catalog": resources}`);
asgi-lifespan keeps that state only in its `_state` attribute and has no public accessor, so
this is the one place a test reaches into it.
"""

from __future__ import annotations

from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from catalog.server.resources import Resources

LIFESPAN_S = 30.0


def resources_of(manager: LifespanManager) -> Resources:
    resources: Resources = manager._state["catalog"]
    return resources


def started(app: FastAPI) -> LifespanManager:
    """A LifespanManager for `app` with deadlines a loaded CI machine keeps: the library's
    5 s shutdown timed out once while the background workers stopped (CI, 2026-12-05)."""
    return LifespanManager(app, startup_timeout=LIFESPAN_S, shutdown_timeout=LIFESPAN_S)
