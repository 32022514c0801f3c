"""Pages of the web UI: access (being written)."""

from __future__ import annotations

from fastapi import APIRouter

from catalog.ui.web import UiRoute

router = APIRouter(route_class=UiRoute, include_in_schema=False)
