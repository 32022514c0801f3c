"""What changed between two versions of a data product, in words a consumer reads.

A version stores a snapshot of the product (service.py's `_snapshot`: its fields, member
elements, tags and dataset schema); comparing two snapshots says what a consumer of the older
one sees change, and which changes are breaking (they must act). The product page lists them
per version, and `product.version_published` events carry them (changes/events.py).
`schema_changes` is the field-level diff of two column lists (kit/spec_diff.py's, in the
columns' own words): the schema API answers with it, and a snapshot's schema lines use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from catalog.kit.spec_diff import FieldChange, diff_specs


@dataclass(frozen=True)
class Change:
    text: str
    breaking: bool = False


WATCHED = ("name", "team", "category", "owner", "status", "visibility", "description")
NARROWER = {"public": 0, "internal": 1, "restricted": 2}  # visibility: who may see it
# kit/spec_diff.py's words for a column's fields, back in the column's own.
_RENAMED = {"type": "physical_type", "required": "nullable"}


def changes_between(old: dict[str, Any] | None, new: dict[str, Any]) -> list[Change]:
    """What a consumer of the older snapshot sees change. Breaking (they must act): a member
    element removed, the product made less visible, or deprecated."""
    new_elements = _members_of(new)
    new_tags = set(map(str, new.get("tags") or []))
    if old is None:
        first = f"First version: {len(new_elements)} elements, {len(new_tags)} tags"
        columns = _columns_of(new)
        return [Change(first + (f", {len(columns)} columns" if columns else ""))]
    changes = []
    before, after = old.get("product") or {}, new.get("product") or {}
    for name in WATCHED:
        was, now = before.get(name), after.get(name)
        if was == now:
            continue
        if name == "description":
            changes.append(Change("Description changed"))
            continue
        narrowed = name == "visibility" and NARROWER.get(str(now), 0) > NARROWER.get(str(was), 0)
        deprecated = name == "status" and now == "deprecated"
        changes.append(Change(f"{name.capitalize()}: {was} → {now}", narrowed or deprecated))
    old_elements = _members_of(old)
    removed = sorted(old_elements[key] for key in old_elements.keys() - new_elements.keys())
    added = sorted(new_elements[key] for key in new_elements.keys() - old_elements.keys())
    changes += [Change(f"Element removed: {name}", True) for name in removed]
    changes += [Change(f"Element added: {name}") for name in added]
    changes += _schema_changes(old, new)
    old_tags = set(map(str, old.get("tags") or []))
    changes += [Change(f"Tag removed: {tag}") for tag in sorted(old_tags - new_tags)]
    changes += [Change(f"Tag added: {tag}") for tag in sorted(new_tags - old_tags)]
    return sorted(changes, key=lambda change: not change.breaking) or [Change("No changes")]


def _columns_of(snapshot: dict[str, Any]) -> list[dict[str, Any]]:
    schema = snapshot.get("schema")
    columns = schema.get("columns") if isinstance(schema, dict) else None
    return [c for c in columns or [] if isinstance(c, dict) and "name" in c]


def _schema_changes(old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    """The dataset schema's field-level changes, by the diff the API answers with (a schema
    appearing for the first time is one change, not one per column)."""
    before, after = _columns_of(old), _columns_of(new)
    if not after or before == after:
        return [Change("Schema removed", True)] if before and not after else []
    if not before:
        return [Change(f"Schema added: {len(after)} columns")]
    return [
        Change(f"Schema {c.change_type}: {c.field_path.removeprefix('columns.')}", c.breaking)
        for c in schema_changes(before, after)
    ]


def _members_of(snapshot: dict[str, Any]) -> dict[str, str]:
    """Element id -> name in a snapshot (a snapshot is stored JSON: read it forgivingly)."""
    found = {}
    for element in snapshot.get("elements") or []:
        if isinstance(element, dict):
            key = str(element.get("id") or element.get("name"))
            found[key] = str(element.get("name") or key)
        else:
            found[str(element)] = str(element)
    return found


def schema_changes(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[FieldChange]:
    """kit/spec_diff.py's changes between two column lists, in the columns' own words."""
    changes = diff_specs(
        {"columns": [_diffable(c) for c in old]}, {"columns": [_diffable(c) for c in new]}
    )
    return [_spoken(change) for change in changes]


def _diffable(column: dict[str, Any]) -> dict[str, Any]:
    projected = {k: v for k, v in column.items() if k not in ("physical_type", "nullable")}
    return projected | {"type": column["physical_type"], "required": not column["nullable"]}


def _spoken(change: FieldChange) -> FieldChange:
    head, _, last = change.field_path.rpartition(".")
    old, new = change.old_value, change.new_value
    if last == "required" and head.count(".") == 1:
        old, new = _negated(old), _negated(new)
    path = f"{head}.{_RENAMED[last]}" if last in _RENAMED and head.count(".") == 1 else None
    return FieldChange(
        path or change.field_path,
        change.change_type,
        _undiffable(old),
        _undiffable(new),
        change.breaking,
    )


def _negated(value: Any) -> Any:
    return (not value) if isinstance(value, bool) else value


def _undiffable(value: Any) -> Any:
    """A whole column (added or removed) back in the column's own fields."""
    if not (isinstance(value, dict) and "type" in value and "required" in value):
        return value
    rest = {k: v for k, v in value.items() if k not in ("type", "required")}
    return rest | {"physical_type": value["type"], "nullable": not value["required"]}
