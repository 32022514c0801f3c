"""`fields=` on list endpoints: return only the named fields of each item.

Without `fields` a list is answered through its response model as usual. With it, the page is
serialised here (the response model would otherwise insist on every field) after checking
that each name is a field of the item model (422 otherwise).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, TypeVar

import orjson
from fastapi import Depends, Query, Response
from pydantic import BaseModel

from catalog.core.errors import Unprocessable
from catalog.kit.pagination import Page, PageParams

T = TypeVar("T", bound=BaseModel)


async def fields_param(
    fields: str | None = Query(
        None,
        max_length=1000,
        description="Comma-separated fields to return for each item (default: all)",
    ),
) -> list[str] | None:
    if fields is None:
        return None
    # Spaces around names are ignored, nothing else (the grammar server/openapi.py declares).
    names = [name.strip(" ") for name in fields.split(",") if name.strip(" ")]
    return names or None


Fields = Annotated[list[str] | None, Depends(fields_param)]


def page_of(
    model: type[T],
    rows: Sequence[Any],
    total: int,
    page: PageParams,
    fields: list[str] | None = None,
) -> Any:
    """The list answer: a `Page[model]`, or the projected page as a ready response."""
    items = [model.model_validate(row) for row in rows]
    if fields is None:
        return Page[model](items=items, total=total, limit=page.limit, offset=page.offset)  # type: ignore[valid-type]
    unknown = sorted(set(fields) - set(model.model_fields))
    if unknown:
        raise Unprocessable(
            f"unknown fields: {', '.join(unknown)}; available: {', '.join(model.model_fields)}"
        )
    keep = set(fields)
    body = {
        "items": [item.model_dump(mode="json", include=keep) for item in items],
        "total": total,
        "limit": page.limit,
        "offset": page.offset,
    }
    return Response(orjson.dumps(body), media_type="application/json")
