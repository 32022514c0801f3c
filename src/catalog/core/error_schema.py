"""The error envelope as a pydantic model, so OpenAPI documents what every error looks like."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class FieldProblem(BaseModel):
    loc: list[str | int]
    msg: str
    type: str | None = None


class ErrorBody(BaseModel):
    code: int
    message: str
    details: str
    retry_after: int | None = None
    timestamp: str
    request_id: str | None
    errors: list[FieldProblem] | None = None


class ErrorEnvelope(BaseModel):
    error: ErrorBody


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries for the given statuses, all with the envelope model."""
    return {
        status: {"model": ErrorEnvelope, "description": ERROR_DESCRIPTIONS.get(status, "Error")}
        for status in statuses
    }


ERROR_DESCRIPTIONS = {
    400: "Malformed request (bad JSON, bad bytes in path or query)",
    401: "Missing or invalid credentials",
    403: "The principal's role does not allow this",
    404: "No such resource",
    409: "Conflicts with the current state (duplicate, illegal transition, still referenced)",
    412: "If-Match did not match the current version",
    413: "Request body or batch too large",
    415: "Request body is not JSON",
    422: "Validation failed; `error.errors` lists each problem",
    429: "Rate limited; see Retry-After",
    500: "Internal error; the body carries only the request id",
    503: "A dependency is unavailable; see Retry-After",
}
COMMON_ERRORS = error_responses(400, 413, 415, 422, 429, 500, 503)
