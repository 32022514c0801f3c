"""ORM rows as plain, JSON-safe dicts (for audit before/after and version snapshots)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import inspect

from catalog.db.models import Base


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def row_dict(obj: Base, *, exclude: tuple[str, ...] = ()) -> dict[str, Any]:
    """Column values keyed by column name (`metadata`, not the `metadata_` attribute)."""
    mapper = inspect(obj).mapper
    return {
        column.name: _plain(getattr(obj, attr.key))
        for attr in mapper.column_attrs
        for column in attr.columns
        if attr.key not in exclude
    }
