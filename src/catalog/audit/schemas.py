"""Request and response models of the audit API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import Field

from catalog.core.json_value import JSONDocument
from catalog.kit.schemas import (
    INTEGRAL,
    Fraction,
    LongText,
    Name,
    RequestModel,
    ResponseModel,
    StoredMetadata,
)

# The column is a 32-bit INTEGER on PostgreSQL.
PROCESSING_TIME_MAX_MS = 2_147_483_647


class LangExtractCreate(RequestModel):
    """One LangExtract operation, as the extraction service reports it."""

    extraction_id: Name
    user_id: Name
    operation_type: Annotated[Name, Field(max_length=100)]
    context: LongText = ""
    request: JSONDocument = {}
    response: JSONDocument = {}
    processing_time_ms: Annotated[int, Field(ge=0, le=PROCESSING_TIME_MAX_MS), INTEGRAL] | None = (
        None
    )
    confidence: Fraction | None = None
    schema_version: Annotated[Name, Field(max_length=100)] | None = None
    quality_metrics: JSONDocument = {}
    metadata: JSONDocument = {}


class LangExtractOut(ResponseModel):
    id: str
    timestamp: datetime
    extraction_id: str
    user_id: str
    context: str
    operation_type: str
    request: dict[str, Any]
    response: dict[str, Any]
    processing_time_ms: int | None
    confidence: float | None
    schema_version: str | None
    quality_metrics: dict[str, Any]
    metadata: StoredMetadata
    recorded_by: str | None


class AuditEventOut(ResponseModel):
    """A write or auth event, recorded in the transaction of the change it describes."""

    id: str
    timestamp: datetime
    actor: str | None
    actor_role: str | None
    action: str
    resource_type: str
    resource_id: str | None
    request_id: str | None
    client_ip: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    details: dict[str, Any]
