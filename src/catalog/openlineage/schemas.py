"""Answers of the OpenLineage intake (the events themselves are the spec's, spec.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from catalog.kit.schemas import ResponseModel


class LineageEventOut(ResponseModel):
    id: str
    kind: str
    event_type: str | None
    event_time: datetime
    run_id: str | None
    job_namespace: str | None
    job_name: str | None
    producer: str
    received_by: str | None
    received_at: datetime
    applied_at: datetime | None  # None: still waiting for the applier
    outcome: Literal["applied", "kept", "failed"] | None
    error: str
    event: dict[str, Any] = Field(validation_alias="payload")  # as posted
