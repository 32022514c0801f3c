"""`GET /api/admin/db/indexes`: every index of the catalog database, flagged (admin only).

The same report as `catalog db indexes --json` (catalog.db.indexes builds both), read in the
request's own read transaction. A thin route: the SQL lives in catalog.db.indexes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter

from catalog.core.error_schema import error_responses
from catalog.db.indexes import index_report
from catalog.kit.schemas import ResponseModel
from catalog.server.deps import Session
from catalog.server.retrying_route import RetryingRoute
from catalog.server.roles import Admin

router = APIRouter(tags=["admin"], route_class=RetryingRoute)

Origin = Literal["guide", "schema"]


class IndexOut(ResponseModel):
    table: str
    name: str
    definition: str
    columns: list[str | None]
    size_bytes: int | None
    scans: int | None
    unique: bool
    primary: bool
    valid: bool
    unused: bool | None
    expected: Origin | None


class MissingIndexOut(ResponseModel):
    name: str
    table: str
    columns: list[str]
    origin: Origin
    reason: str


class IndexReportOut(ResponseModel):
    database: Literal["postgresql", "sqlite"]
    indexes: list[IndexOut]
    missing: list[MissingIndexOut]
    unused: list[str]
    stats_reset: datetime | None
    total_size_bytes: int | None


@router.get("/api/admin/db/indexes", responses=error_responses(403))
async def list_indexes(session: Session, actor: Admin) -> IndexReportOut:
    """Every index with table, definition, size in bytes and scans since the statistics were
    reset (PostgreSQL; null on SQLite). `unused`: never scanned and enforcing nothing.
    `missing`: expected indexes (the readiness guide's and the models') that
    are absent, on other columns, or invalid. `expected` says which list an index is on.
    """
    report = await index_report(await session.connection())
    return IndexReportOut.model_validate(report)
