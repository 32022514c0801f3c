"""Request and answer of `POST /api/ingestion/runs`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field

from catalog.kit.schemas import Name, RequestModel, ResponseModel

Pattern = Annotated[str, Field(min_length=1, max_length=200)]


class IngestionRunIn(RequestModel):
    url: Annotated[
        str,
        Field(
            min_length=1,
            max_length=2000,
            description="SQLAlchemy URL of the database to crawl; used for the run, never "
            "stored or logged (the run keeps its source without credentials)",
        ),
    ]
    team: Name = "data-platform"
    schemas: Annotated[list[Name], Field(max_length=100)] = []
    include: Annotated[list[Pattern], Field(max_length=100)] = []
    exclude: Annotated[list[Pattern], Field(max_length=100)] = []
    dry_run: bool = False


class IngestionRunOut(ResponseModel):
    id: str
    source: str
    status: Literal["queued", "running", "succeeded", "failed"]
    options: dict[str, Any]
    report: dict[str, Any] = Field(description="Counts, changed tables and warnings, once done")
    error: str
    created_by: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
