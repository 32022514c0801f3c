"""Batch endpoints: `{"items": [...]}` in, one result per item out.

Each raw item is validated on its own so one bad item costs only itself (never a 422 or a 500
for the whole batch). Over `CATALOG_BULK_MAX_ITEMS` (default 1000) items is a 413; an empty
batch is a 422. The good items of a batch are written in the request's one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, Field, ValidationError

from catalog.core.errors import CatalogError, PayloadTooLarge, Unprocessable
from catalog.kit.schemas import RequestModel, ResponseModel

T = TypeVar("T", bound=BaseModel)


@dataclass
class ItemOutcome:
    """Result of one item of a batch: the created id, or the error to report."""

    index: int
    id: str | None = None
    error: CatalogError | None = None


class BulkIn(RequestModel):
    # Each item is checked on its own (a bad one is an error in the answer, not a 422).
    items: Annotated[list[dict[str, Any]], Field(min_length=1)]


class BulkItemResult(ResponseModel):
    index: int
    status: Literal["created", "error"]
    id: str | None = None
    code: int | None = None
    error: str | None = None


class BulkOut(ResponseModel):
    created: int
    failed: int
    results: list[BulkItemResult]


def within_limit(body: BulkIn, max_items: int) -> list[dict[str, Any]]:
    """The batch's raw items; 413 over `max_items` (the `BulkItems` dependency in server/deps.py
    passes `CATALOG_BULK_MAX_ITEMS`)."""
    if len(body.items) > max_items:
        raise PayloadTooLarge(f"a batch holds at most {max_items} items; got {len(body.items)}")
    return body.items


def validation_summary(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(map(str, e['loc'])) or 'item'}: {e['msg']}" for e in exc.errors()[:5]
    )


def parse_items(
    model: type[T], raw_items: list[dict[str, Any]]
) -> tuple[list[T], list[int], dict[int, ItemOutcome]]:
    """(valid items, their positions, outcomes of the invalid ones by position)."""
    parsed: list[T] = []
    positions: list[int] = []
    failures: dict[int, ItemOutcome] = {}
    for index, raw in enumerate(raw_items):
        try:
            parsed.append(model.model_validate(raw))
            positions.append(index)
        except ValidationError as exc:
            failures[index] = ItemOutcome(index, error=Unprocessable(validation_summary(exc)))
    return parsed, positions, failures


def merge_outcomes(
    total: int,
    positions: list[int],
    created: list[ItemOutcome],
    failures: dict[int, ItemOutcome],
) -> list[ItemOutcome]:
    """Outcomes of the valid items (in order) and the invalid ones, by original position."""
    for position, outcome in zip(positions, created, strict=True):
        outcome.index = position
        failures[position] = outcome
    return [failures[i] for i in range(total)]


def bulk_answer(outcomes: list[ItemOutcome]) -> BulkOut:
    results = [
        BulkItemResult(index=o.index, status="created", id=o.id)
        if o.error is None
        else BulkItemResult(
            index=o.index, status="error", code=o.error.status, error=o.error.details
        )
        for o in outcomes
    ]
    created = sum(1 for r in results if r.status == "created")
    return BulkOut(created=created, failed=len(results) - created, results=results)
