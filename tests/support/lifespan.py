"""The Resources of an app a test started with asgi-lifespan's LifespanManager.

The lifespan returns Resources as the ASGI lifespan state (`{"catalog": resources}`);
asgi-lifespan keeps that state only in its `_state` attribute and has no public accessor, so
this is the one place a test reaches into it.
"""

from __future__ import annotations

from asgi_lifespan import LifespanManager

from catalog.server.resources import Resources


def resources_of(manager: LifespanManager) -> Resources:
    resources: Resources = manager._state["catalog"]
    return resources
