"""HTTP routes of the tags domain (being built)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["tags"])
