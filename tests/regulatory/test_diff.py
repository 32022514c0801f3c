"""The field-level diff of regulatory specs and the version order (pure functions)."""

from __future__ import annotations

from typing import Any

import pytest

from catalog.kit.spec_diff import MAX_PATH, FieldChange, diff_specs, same_json
from catalog.regulatory.versions import compare_versions, neighbours


def by_path(old: dict[str, Any], new: dict[str, Any]) -> dict[str, FieldChange]:
    return {change.field_path: change for change in diff_specs(old, new)}


def field(name: str, type_: str = "string", **more: Any) -> dict[str, Any]:
    return {"name": name, "type": type_, **more}


def test_identical_specs_have_no_changes() -> None:
    spec = {"title": "KYC", "fields": [field("a", required=True)], "tags": [1, 2]}
    assert diff_specs(spec, dict(spec)) == []


def test_named_list_items_are_keyed_by_name_wherever_they_sit() -> None:
    old = {"fields": [field("a"), field("b")]}
    new = {"fields": [field("b"), field("a", "integer")]}  # reordered, a's type changed
    assert by_path(old, new) == {
        "fields.a.type": FieldChange("fields.a.type", "modified", "string", "integer", True)
    }


def test_list_items_are_keyed_by_id_code_or_key_when_not_all_named() -> None:
    for key in ("id", "code", "key"):
        old = {"fields": [{key: "a", "type": "string"}]}
        new = {"fields": [{key: "b", "type": "date"}, {key: "a", "type": "integer"}]}
        changes = by_path(old, new)
        assert set(changes) == {"fields.a.type", "fields.b"}, key
        assert changes["fields.a.type"] == FieldChange(
            "fields.a.type", "modified", "string", "integer", True
        )
        assert changes["fields.b"].change_type == "added"


def test_the_first_key_every_item_carries_distinctly_wins() -> None:
    # `name` repeats, so `id` keys; `code` would too but comes later.
    old = {"fields": [{"name": "x", "id": "a", "code": "1"}, {"name": "x", "id": "b", "code": "2"}]}
    new = {"fields": [{"name": "x", "id": "a", "code": "1"}, {"name": "y", "id": "b", "code": "2"}]}
    assert list(by_path(old, new)) == ["fields.b.name"]
    # Every item named: `name` keys even though ids are there too (an id change is an attribute).
    old = {"fields": [field("a", id="1"), field("b", id="2")]}
    new = {"fields": [field("b", id="2"), field("a", id="3")]}
    assert list(by_path(old, new)) == ["fields.a.id"]


def test_the_key_is_chosen_for_both_versions_of_the_list() -> None:
    # The old items all have a name but the new ones do not: both sides key by `id`, the one
    # they share, so `a` is the same item in both and only its changes are reported.
    old = {"fields": [{"id": "a", "name": "A", "type": "string"}]}
    new = {"fields": [{"id": "a", "type": "string"}, {"id": "b", "type": "date"}]}
    assert set(by_path(old, new)) == {"fields.a.name", "fields.b"}


def test_added_and_removed_subtrees_are_one_change_each() -> None:
    old = {"fields": [field("gone", required=True)]}
    new = {"fields": [field("new", description="d")]}
    changes = by_path(old, new)
    assert set(changes) == {"fields.gone", "fields.new"}
    assert changes["fields.gone"].change_type == "removed"
    assert changes["fields.gone"].old_value == field("gone", required=True)
    assert changes["fields.gone"].new_value is None
    assert changes["fields.new"].change_type == "added"
    assert changes["fields.new"].old_value is None


@pytest.mark.parametrize(
    ("old", "new", "breaking"),
    [
        # removals always break
        ({"a": 1}, {}, True),
        ({"fields": [field("x")]}, {"fields": []}, True),
        # a changed type breaks, another attribute does not
        ({"fields": [field("x")]}, {"fields": [field("x", "date")]}, True),
        ({"fields": [field("x", format="a")]}, {"fields": [field("x", format="b")]}, False),
        # required false -> true (or absent -> true) breaks; true -> false does not
        ({"fields": [field("x", required=False)]}, {"fields": [field("x", required=True)]}, True),
        ({"fields": [field("x")]}, {"fields": [field("x", required=True)]}, True),
        ({"fields": [field("x", required=True)]}, {"fields": [field("x", required=False)]}, False),
        # an added field breaks only when required (anywhere inside what was added)
        ({"fields": []}, {"fields": [field("x", required=True)]}, True),
        ({"fields": []}, {"fields": [field("x", required=False)]}, False),
        ({"fields": []}, {"fields": [field("x")]}, False),
        ({}, {"section": {"fields": [field("x", required=True)]}}, True),
        ({}, {"section": {"fields": [field("x")]}}, False),
        # an object replaced by a scalar loses its sub-fields
        ({"limits": {"max": 1}}, {"limits": 5}, True),
        ({"limits": 4}, {"limits": 5}, False),
        # plain lists are compared whole
        ({"codes": ["A", "B"]}, {"codes": ["A"]}, False),
    ],
)
def test_breaking_rules(old: dict[str, Any], new: dict[str, Any], breaking: bool) -> None:
    changes = diff_specs(old, new)
    assert len(changes) == 1, changes
    assert changes[0].breaking is breaking


def test_json_equality_is_strict_about_booleans() -> None:
    assert same_json(1, 1.0)
    assert not same_json(True, 1)
    assert not same_json({"a": True}, {"a": 1})
    [change] = diff_specs({"flag": True}, {"flag": 1})
    assert (change.change_type, change.old_value, change.new_value) == ("modified", True, 1)


def test_empty_object_and_empty_list_differ() -> None:
    [change] = diff_specs({"x": {}}, {"x": []})
    assert (change.field_path, change.breaking) == ("x", True)


def test_duplicate_or_missing_keys_fall_back_to_whole_list_comparison() -> None:
    old = {"fields": [field("a"), field("a")]}
    new = {"fields": [field("a"), field("a", "integer")]}
    [change] = diff_specs(old, new)
    assert change.field_path == "fields"
    # Numbers do not key items (`rows.1` would read as a position).
    [change] = diff_specs({"rows": [{"id": 1}]}, {"rows": [{"id": 2}]})
    assert change.field_path == "rows"
    # One item without any of the keys: the whole list.
    [change] = diff_specs({"rows": [{"id": "a"}]}, {"rows": [{"id": "a"}, {"other": "b"}]})
    assert change.field_path == "rows"
    [change] = diff_specs({"rows": [{"code": "a"}]}, {"rows": [{"code": ""}]})
    assert change.field_path == "rows"


def test_changes_are_sorted_by_path() -> None:
    changes = diff_specs(
        {"b": 1, "a": 1, "c": {"z": 1, "y": 1}}, {"b": 2, "a": 2, "c": {"z": 2, "y": 2}}
    )
    assert [c.field_path for c in changes] == ["a", "b", "c.y", "c.z"]


def test_paths_longer_than_the_column_collapse_to_the_parent() -> None:
    segment = "s" * 150
    deep_old: dict[str, Any] = {"leaf": {"type": "string"}}
    deep_new: dict[str, Any] = {"leaf": {"type": "integer"}}
    for _ in range(4):
        deep_old, deep_new = {segment: deep_old}, {segment: deep_new}
    changes = diff_specs({"root": deep_old}, {"root": deep_new})
    assert len(changes) == 1
    [change] = changes
    assert len(change.field_path) <= MAX_PATH
    assert change.change_type == "modified"
    assert change.breaking  # the type change inside still counts


@pytest.mark.parametrize(
    ("lower", "higher"),
    [
        ("1.9.0", "1.10.0"),
        ("1.0.0-rc.1", "1.0.0"),
        ("1.0.0-alpha", "1.0.0-beta"),
        ("2024-9", "2024-10"),
        ("v1.9", "v1.10"),
        ("1.0", "1.0.1"),
        ("release-2", "release-10"),
    ],
)
def test_version_order(lower: str, higher: str) -> None:
    assert compare_versions(lower, higher) == -1
    assert compare_versions(higher, lower) == 1
    assert compare_versions(lower, lower) == 0


def test_neighbours_pick_the_closest_versions_by_semver() -> None:
    others = [("a", "1.2.0"), ("b", "1.10.0"), ("c", "1.9.0"), ("d", "2.0.0")]
    assert neighbours("1.9.5", others) == (("c", "1.9.0"), ("b", "1.10.0"))
    assert neighbours("1.10.0", [o for o in others if o[0] != "b"]) == (
        ("c", "1.9.0"),
        ("d", "2.0.0"),
    )
    assert neighbours("0.1.0", others) == (None, ("a", "1.2.0"))
    assert neighbours("3.0.0", others) == (("d", "2.0.0"), None)
