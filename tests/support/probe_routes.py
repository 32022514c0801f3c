"""Routes the platform tests add to a real app to exercise the shared machinery.

They go through the same middleware, exception handlers and session dependency as every
domain route; domain behaviour itself is tested through the domain routes.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, FastAPI
from pydantic import BaseModel, ConfigDict
from sqlalchemy import func, select

from catalog.app import create_app
from catalog.core.clock import Clock
from catalog.core.errors import Conflict
from catalog.db.models import DataProduct
from catalog.server.deps import Session
from catalog.settings import Settings

SECRET_DETAIL = "password=hunter2 at /srv/secret/path.py"


class EchoIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    count: int


router = APIRouter(prefix="/t")


@router.post("/echo", status_code=201)
async def echo(body: EchoIn) -> EchoIn:
    return body


@router.get("/boom")
async def boom() -> None:
    raise RuntimeError(SECRET_DETAIL)


@router.get("/items/{item_id}")
async def item(item_id: str) -> dict[str, str]:
    return {"id": item_id}


@router.get("/conflict")
async def conflict() -> None:
    raise Conflict("already there")


@router.get("/slow-conflict")
async def slow_conflict() -> None:
    await asyncio.sleep(0.01)  # lets concurrent requests interleave
    raise Conflict("already there")


@router.get("/slow")
async def slow(seconds: float = 1.0) -> dict[str, float]:
    await asyncio.sleep(seconds)
    return {"slept": seconds}


@router.get("/db")
async def count_products(session: Session) -> dict[str, int]:
    total = await session.scalar(select(func.count()).select_from(DataProduct))
    return {"products": int(total or 0)}


def app_with_probe_routes(settings: Settings, clock: Clock | None = None) -> FastAPI:
    app = create_app(settings, clock=clock)
    app.include_router(router)
    return app
