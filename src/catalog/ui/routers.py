"""Every router of the web UI, in the order they are included."""

from __future__ import annotations

from fastapi import APIRouter


def ui_routers() -> list[APIRouter]:
    from catalog.ui import (
        access,
        assets,
        audit,
        browse,
        home,
        oidc,
        products,
        registry,
        search,
        sign_in,
    )

    return [
        assets.router,
        sign_in.router,
        oidc.router,
        home.router,
        search.router,
        products.router,
        access.router,
        registry.router,
        browse.router,
        audit.router,
    ]
