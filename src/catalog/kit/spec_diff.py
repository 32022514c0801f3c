"""Field-level differences between two versions of a JSON specification (pure).

One implementation for every domain that versions a spec: regulatory specifications and data
products' dataset schemas (columns keyed by `name`) report their changes and breaking flags
alike, so it sits in kit, below both.

A spec is a JSON object. Objects are walked key by key. A list of objects is walked as if
keyed by the first of `LIST_KEYS` (`name`, `id`, `code`, `key`) that every item of both
versions of the list carries as a non-empty string, distinct within each version, so a field
keeps its path (`fields.customer_id.type`) wherever it sits in the list. The key is chosen for
the pair, not per version, so both sides name their items alike. Only strings key items: a
number would read as a position (`fields.1.type`). Anything else (scalars, other lists) is
compared whole. An added or removed subtree is one change at its root, not one per leaf.

Breaking changes (what a consumer of the previous version must act on):
- anything removed;
- a changed `type`;
- `required` becoming true (an absent `required` counts as false);
- an added subtree that holds a required field (`"required": true` anywhere inside);
- a node replaced by one of another kind (an object by a scalar, say): its sub-fields are gone.
Every other addition or change is not breaking.

Paths are capped at `MAX_PATH` characters (the column's size): where a child's path would be
longer, the difference is reported once at the parent, breaking if anything inside is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

MAX_PATH = 500
# What identifies an item of a list, most telling first (specs name fields; code lists have
# codes; some carry ids or keys).
LIST_KEYS = ("name", "id", "code", "key")
ChangeType = Literal["added", "modified", "removed"]


@dataclass(frozen=True)
class FieldChange:
    field_path: str
    change_type: ChangeType
    old_value: Any
    new_value: Any
    breaking: bool


def diff_specs(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[FieldChange]:
    """The changes that turn `old` into `new`, sorted by path."""
    changes: list[FieldChange] = []
    _walk(dict(old), dict(new), "", changes, MAX_PATH)
    return sorted(changes, key=lambda change: change.field_path)


def _walk(old: Any, new: Any, path: str, out: list[FieldChange], limit: int | None) -> None:
    children = _children(old, new)
    if children is None:
        if not same_json(old, new):
            out.append(_modified(path, old, new))
        return
    old_children, new_children = children
    keys = list(old_children) + [key for key in new_children if key not in old_children]
    paths = {key: f"{path}.{key}" if path else key for key in keys}
    if path and limit is not None and any(len(p) > limit for p in paths.values()):
        nested: list[FieldChange] = []
        _walk(old, new, path, nested, None)
        if nested:
            breaking = any(change.breaking for change in nested)
            out.append(FieldChange(path, "modified", old, new, breaking))
        return
    for key in keys:
        child_path = paths[key]
        if key not in new_children:
            out.append(FieldChange(child_path, "removed", old_children[key], None, True))
        elif key not in old_children:
            value = new_children[key]
            breaking = holds_required(value) or (key == "required" and value is True)
            out.append(FieldChange(child_path, "added", None, value, breaking))
        else:
            _walk(old_children[key], new_children[key], child_path, out, limit)


def _modified(path: str, old: Any, new: Any) -> FieldChange:
    key = path.rsplit(".", 1)[-1]
    breaking = (
        key == "type"
        or (key == "required" and old is not True and new is True)
        or _kind(old) != _kind(new)
    )
    return FieldChange(path, "modified", old, new, breaking)


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "object"
    return "list" if isinstance(value, list) else "scalar"


def _children(old: Any, new: Any) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The keyed children of two objects, or of two lists of keyed objects; None for leaves."""
    if isinstance(old, dict) and isinstance(new, dict):
        return _object(old), _object(new)
    if isinstance(old, list) and isinstance(new, list):
        for key in LIST_KEYS:
            if _keyed_by(old, key) and _keyed_by(new, key):
                return {item[key]: item for item in old}, {item[key]: item for item in new}
    return None


def _object(value: dict[Any, Any]) -> dict[str, Any]:
    return {str(key): child for key, child in value.items()}


def _keyed_by(items: list[Any], key: str) -> bool:
    """Whether every item is an object whose `key` is a non-empty string, each one distinct."""
    values = [item.get(key) if isinstance(item, dict) else None for item in items]
    filled = all(isinstance(value, str) and value for value in values)
    return filled and len(set(values)) == len(values)


def holds_required(value: Any) -> bool:
    """Whether an object with `"required": true` sits anywhere in `value`."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if item.get("required") is True:
                return True
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def same_json(a: Any, b: Any) -> bool:
    """JSON equality: `true` is not `1` (as Python's `==` would have it), `1` is `1.0`."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, dict):
        return (
            isinstance(b, dict)
            and a.keys() == b.keys()
            and all(same_json(value, b[key]) for key, value in a.items())
        )
    if isinstance(a, list):
        return (
            isinstance(b, list)
            and len(a) == len(b)
            and all(same_json(x, y) for x, y in zip(a, b, strict=True))
        )
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return type(a) is type(b) and bool(a == b)
