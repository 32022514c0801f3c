"""Free-form JSON documents in request bodies, checked so both databases can store them.

`dict[str, Any]` alone lets through values that PostgreSQL's JSONB refuses at INSERT time (a
500 instead of a 422): NUL characters and lone surrogates in strings, NaN and infinities. A
bound on depth and node count also keeps recursive work on a document (diffs, flattening)
cheap and safe from the recursion limit.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from pydantic import AfterValidator

MAX_DEPTH = 32
MAX_NODES = 100_000


def check_json(value: Any, *, max_depth: int = MAX_DEPTH, max_nodes: int = MAX_NODES) -> None:
    """Raise ValueError when `value` is not a JSON value both databases store as given."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    nodes = 0
    while stack:
        item, depth = stack.pop()
        nodes += 1
        if nodes > max_nodes:
            raise ValueError(f"a JSON document holds at most {max_nodes} values")
        if depth > max_depth:
            raise ValueError(f"a JSON document nests at most {max_depth} levels deep")
        if isinstance(item, str):
            _check_text(item)
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise ValueError("JSON numbers must be finite (no NaN or Infinity)")
        elif isinstance(item, dict):
            for key, child in item.items():
                _check_text(key)
                stack.append((child, depth + 1))
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
        elif item is not None and not isinstance(item, bool | int):
            raise ValueError(f"not a JSON value: {type(item).__name__}")


def _check_text(text: str) -> None:
    if "\x00" in text:
        raise ValueError("JSON strings must not contain NUL characters")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("JSON strings must be valid Unicode (no lone surrogates)") from None


def _json_object(value: dict[str, Any]) -> dict[str, Any]:
    check_json(value)
    return value


# A JSON object (not an array or scalar) that PostgreSQL and SQLite both store as given.
JSONDocument = Annotated[dict[str, Any], AfterValidator(_json_object)]
