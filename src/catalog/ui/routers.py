"""Every router of the web UI, in the order they are included."""

from __future__ import annotations

from fastapi import APIRouter


def ui_routers() -> list[APIRouter]:
    from catalog.ui import assets, home, search, sign_in

    return [assets.router, sign_in.router, home.router, search.router]
