"""Regulatory schemas: versions, status, field-level changes and product mappings."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest
from httpx import AsyncClient

from tests.support.api import create_element, create_product, error_of, ok, unique

SCHEMAS = "/api/regulatory-schemas"

KYC_V1 = {
    "title": "Know your customer",
    "fields": [
        {"name": "customer_id", "type": "string", "required": True},
        {"name": "birth_date", "type": "date", "required": False},
        {"name": "country", "type": "string", "required": False},
        {"name": "legacy_code", "type": "string"},
    ],
}
KYC_V1_1 = {
    "title": "Know your customer (2nd edition)",
    "fields": [
        {"name": "customer_id", "type": "integer", "required": True},
        {"name": "birth_date", "type": "date", "required": True},
        {"name": "country", "type": "string", "required": False, "description": "ISO 3166"},
        {"name": "email", "type": "string", "required": False},
        {"name": "tax_id", "type": "string", "required": True},
    ],
}


def _nested(depth: int) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    for _ in range(depth):
        spec = {"n": spec}
    return spec


DEEP_SPEC = _nested(40)


async def create_schema(
    client: AsyncClient, regulatory_type: str, version: str, spec: dict[str, Any] | None = None
) -> dict[str, Any]:
    body = {
        "regulatory_type": regulatory_type,
        "version": version,
        "document_source": "https://regulator.example/spec.pdf",
        "document_version": "2026-01",
        "spec_json": spec if spec is not None else {"fields": []},
    }
    return ok(await client.post(SCHEMAS, json=body), 201)  # type: ignore[no-any-return]


async def changes_of(client: AsyncClient, schema_id: str) -> dict[str, Any]:
    return ok(await client.get(f"{SCHEMAS}/{schema_id}/changes"))  # type: ignore[no-any-return]


async def test_create_get_and_list(client: AsyncClient) -> None:
    schema = await create_schema(client, "GDPR", "1.0.0", KYC_V1)
    assert schema["status"] == "draft"
    assert schema["spec_json"] == KYC_V1
    assert schema["created_by"] == "anonymous"
    assert (schema["approved_by"], schema["approved_at"]) == (None, None)
    assert ok(await client.get(f"{SCHEMAS}/{schema['id']}")) == schema
    await create_schema(client, "GDPR", "1.1.0", KYC_V1_1)
    await create_schema(client, "SOX", "1.0.0")

    everything = ok(await client.get(SCHEMAS))
    assert everything["total"] == 3
    gdpr = ok(await client.get(SCHEMAS, params={"regulatory_type": "GDPR"}))
    assert [s["version"] for s in gdpr["items"]] == ["1.0.0", "1.1.0"]
    page = ok(await client.get(SCHEMAS, params={"limit": 1, "offset": 1}))
    assert (len(page["items"]), page["total"], page["limit"], page["offset"]) == (1, 3, 1, 1)
    projected = ok(await client.get(SCHEMAS, params={"fields": "id,version"}))
    assert all(set(item) == {"id", "version"} for item in projected["items"])
    error_of(await client.get(SCHEMAS, params={"fields": "nope"}), 422)
    error_of(await client.get(SCHEMAS, params={"status": "retired"}), 422)
    error_of(await client.get(f"{SCHEMAS}/no-such-schema"), 404)


async def test_duplicate_type_and_version_is_409(client: AsyncClient) -> None:
    await create_schema(client, "GDPR", "1.0.0")
    body = {"regulatory_type": "GDPR", "version": "1.0.0", "spec_json": {}}
    error = error_of(await client.post(SCHEMAS, json=body), 409)
    assert "1.0.0" in error["details"]
    # Same version of another type, or another version of the type: fine.
    await create_schema(client, "SOX", "1.0.0")
    await create_schema(client, "GDPR", "1.0.1")


async def test_concurrent_duplicates_create_exactly_one(client: AsyncClient) -> None:
    body = {"regulatory_type": "BASEL", "version": "3.0.0", "spec_json": {"a": 1}}
    responses = await asyncio.gather(*(client.post(SCHEMAS, json=body) for _ in range(8)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * 7, [r.text for r in responses]
    assert ok(await client.get(SCHEMAS, params={"regulatory_type": "BASEL"}))["total"] == 1


@pytest.mark.parametrize(
    "override",
    [
        {"spec_json": ["not", "an", "object"]},
        {"spec_json": "text"},
        {"spec_json": None},
        {"regulatory_type": ""},
        {"regulatory_type": "   "},
        {"regulatory_type": "t" * 101},
        {"regulatory_type": 7},
        {"version": ""},
        {"version": 1.0},
        {"version": "v" * 101},
        {"document_source": "s" * 501},
        {"document_version": ["2026"]},
        {"status": "approved"},  # not settable on create
        {"spec_json": {"bad": "nul\u0000inside"}},
        {"spec_json": {"k" * 201: 1}},
        {"spec_json": DEEP_SPEC},
    ],
)
async def test_bad_schemas_are_422(client: AsyncClient, override: dict[str, Any]) -> None:
    body = {"regulatory_type": "GDPR", "version": "1.0.0", "spec_json": {}} | override
    error_of(await client.post(SCHEMAS, json=body), 422)
    bare = dict(body)
    bare.pop("spec_json")
    error_of(await client.post(SCHEMAS, json=bare), 422)
    assert ok(await client.get(SCHEMAS))["total"] == 0


async def test_values_postgresql_cannot_store_are_422(client: AsyncClient) -> None:
    """NaN and lone surrogates parse as JSON in Python but JSONB refuses them (a 500)."""
    for spec in (b'{"x": NaN}', b'{"x": [Infinity]}', b'{"x": "\\ud800"}'):
        raw = b'{"regulatory_type": "GDPR", "version": "1.0.0", "spec_json": ' + spec + b"}"
        response = await client.post(
            SCHEMAS, content=raw, headers={"content-type": "application/json"}
        )
        error_of(response, 422)
    assert ok(await client.get(SCHEMAS))["total"] == 0


async def test_status_moves_draft_approved_deprecated_only(client: AsyncClient) -> None:
    schema = await create_schema(client, "GDPR", "1.0.0")
    url = f"{SCHEMAS}/{schema['id']}"
    error_of(await client.patch(url, json={"status": "deprecated"}), 409)
    error_of(await client.patch(url, json={"status": "draft"}), 409)
    approved = ok(await client.patch(url, json={"status": "approved"}))
    assert approved["status"] == "approved"
    assert approved["approved_by"] == "anonymous"
    assert approved["approved_at"] is not None
    error_of(await client.patch(url, json={"status": "approved"}), 409)
    error_of(await client.patch(url, json={"status": "draft"}), 409)
    deprecated = ok(await client.patch(url, json={"status": "deprecated"}))
    assert deprecated["status"] == "deprecated"
    assert deprecated["approved_at"] == approved["approved_at"]
    for status in ("draft", "approved", "deprecated"):
        error_of(await client.patch(url, json={"status": status}), 409)
    error_of(await client.patch(url, json={"status": "published"}), 422)
    error_of(await client.patch(url, json={"status": "approved", "version": "2"}), 422)
    error_of(await client.patch(f"{SCHEMAS}/missing", json={"status": "approved"}), 404)
    listed = ok(await client.get(SCHEMAS, params={"status": "deprecated"}))
    assert [s["id"] for s in listed["items"]] == [schema["id"]]


async def test_concurrent_approvals_approve_once(client: AsyncClient) -> None:
    schema = await create_schema(client, "GDPR", "1.0.0")
    url = f"{SCHEMAS}/{schema['id']}"
    responses = await asyncio.gather(
        *(client.patch(url, json={"status": "approved"}) for _ in range(6))
    )
    assert sorted(r.status_code for r in responses) == [200] + [409] * 5
    events = ok(
        await client.get(
            "/api/audit/events", params={"resource_id": schema["id"], "action": "approve"}
        )
    )
    assert events["total"] == 1


async def test_changes_between_versions(client: AsyncClient) -> None:
    first = await create_schema(client, "KYC", "1.0.0", KYC_V1)
    second = await create_schema(client, "KYC", "1.1.0", KYC_V1_1)
    initial = await changes_of(client, first["id"])
    assert initial == {
        "schema_id": first["id"],
        "previous_schema_id": None,
        "previous_version": None,
        "changes": [],
        "breaking": 0,
    }
    found = await changes_of(client, second["id"])
    assert (found["previous_schema_id"], found["previous_version"]) == (first["id"], "1.0.0")
    summary = {
        c["field_path"]: (c["change_type"], c["old_value"], c["new_value"], c["breaking"])
        for c in found["changes"]
    }
    assert summary == {
        "fields.birth_date.required": ("modified", False, True, True),
        "fields.country.description": ("added", None, "ISO 3166", False),
        "fields.customer_id.type": ("modified", "string", "integer", True),
        "fields.email": (
            "added",
            None,
            {"name": "email", "type": "string", "required": False},
            False,
        ),
        "fields.legacy_code": (
            "removed",
            {"name": "legacy_code", "type": "string"},
            None,
            True,
        ),
        "fields.tax_id": (
            "added",
            None,
            {"name": "tax_id", "type": "string", "required": True},
            True,
        ),
        "title": ("modified", KYC_V1["title"], KYC_V1_1["title"], False),
    }
    assert found["breaking"] == 4
    assert [c["field_path"] for c in found["changes"]] == sorted(summary)
    error_of(await client.get(f"{SCHEMAS}/missing/changes"), 404)


async def test_changes_key_list_items_by_id_when_they_have_no_names(client: AsyncClient) -> None:
    old = {"fields": [{"id": "a", "type": "string"}]}
    new = {"fields": [{"id": "a", "type": "integer"}, {"id": "b", "type": "date"}]}
    await create_schema(client, "AML", "1.0.0", old)
    second = await create_schema(client, "AML", "1.1.0", new)
    found = await changes_of(client, second["id"])
    summary = {c["field_path"]: (c["change_type"], c["breaking"]) for c in found["changes"]}
    assert summary == {"fields.a.type": ("modified", True), "fields.b": ("added", False)}


async def test_previous_version_is_chosen_by_semver_not_by_string(client: AsyncClient) -> None:
    await create_schema(client, "MiFID", "1.2.0", {"edition": "1.2"})
    ten = await create_schema(client, "MiFID", "1.10.0", {"edition": "1.10"})
    assert (await changes_of(client, ten["id"]))["previous_version"] == "1.2.0"
    # 1.9.0 arrives later: it follows 1.2.0 and now precedes 1.10.0 ("1.9.0" > "1.10.0" as text)
    nine = await create_schema(client, "MiFID", "1.9.0", {"edition": "1.9"})
    of_nine = await changes_of(client, nine["id"])
    assert of_nine["previous_version"] == "1.2.0"
    of_ten = await changes_of(client, ten["id"])
    assert (of_ten["previous_version"], of_ten["previous_schema_id"]) == ("1.9.0", nine["id"])
    [change] = of_ten["changes"]
    assert (change["old_value"], change["new_value"]) == ("1.9", "1.10")
    # Other types do not count; non-semver versions sort naturally.
    await create_schema(client, "Local", "2024-9", {"edition": "Sep"})
    october = await create_schema(client, "Local", "2024-10", {"edition": "Oct"})
    assert (await changes_of(client, october["id"]))["previous_version"] == "2024-9"


async def test_concurrent_versions_each_diff_against_their_predecessor(
    client: AsyncClient,
) -> None:
    versions = [f"1.{minor}.0" for minor in range(8)]
    shuffled = random.sample(versions, len(versions))
    created = await asyncio.gather(
        *(create_schema(client, "DORA", v, {"minor": int(v.split(".")[1])}) for v in shuffled)
    )
    by_version = {schema["version"]: schema for schema in created}
    for index, version in enumerate(versions):
        found = await changes_of(client, by_version[version]["id"])
        if index == 0:
            assert (found["previous_version"], found["changes"]) == (None, [])
            continue
        assert found["previous_version"] == versions[index - 1]
        [change] = found["changes"]
        assert (change["field_path"], change["old_value"], change["new_value"]) == (
            "minor",
            index - 1,
            index,
        )


async def test_product_mappings(client: AsyncClient) -> None:
    schema = await create_schema(client, "KYC", "1.0.0", KYC_V1)
    product = await create_product(client)
    element = await create_element(client)
    url = f"{SCHEMAS}/{schema['id']}/product-mappings"
    body = {
        "field_path": "fields.customer_id",
        "product_id": product["id"],
        "data_element_id": element["id"],
        "transformation": "CAST(id AS TEXT)",
    }
    mapping = ok(await client.post(url, json=body), 201)
    assert mapping["schema_id"] == schema["id"]
    assert (mapping["data_element_id"], mapping["transformation"]) == (
        element["id"],
        "CAST(id AS TEXT)",
    )
    error_of(await client.post(url, json=body), 409)
    # Without an element: the unique constraint cannot see NULL duplicates; the service does.
    bare = {"field_path": "fields.customer_id", "product_id": product["id"]}
    ok(await client.post(url, json=bare), 201)
    error_of(await client.post(url, json=bare), 409)
    ok(await client.post(url, json=bare | {"field_path": "fields.country"}), 201)

    error_of(await client.post(f"{SCHEMAS}/missing/product-mappings", json=bare), 404)
    error_of(await client.post(url, json=bare | {"product_id": "missing"}), 404)
    error_of(await client.post(url, json=body | {"data_element_id": "missing"}), 404)
    for bad in ({"field_path": ""}, {"field_path": "p" * 501}, {"product_id": 5}, {"x": 1}):
        error_of(await client.post(url, json=bare | bad), 422)

    listed = ok(await client.get(url, params={"limit": 2}))
    assert (listed["total"], len(listed["items"])) == (3, 2)
    filtered = ok(await client.get(url, params={"field_path": "fields.country"}))
    assert filtered["total"] == 1
    projected = ok(await client.get(url, params={"fields": "id,field_path"}))
    assert all(set(item) == {"id", "field_path"} for item in projected["items"])
    error_of(await client.get(f"{SCHEMAS}/missing/product-mappings"), 404)

    other = await create_schema(client, "KYC", "2.0.0")
    error_of(await client.delete(f"{SCHEMAS}/{other['id']}/product-mappings/{mapping['id']}"), 404)
    assert (await client.delete(f"{url}/{mapping['id']}")).status_code == 204
    error_of(await client.delete(f"{url}/{mapping['id']}"), 404)
    assert ok(await client.get(url))["total"] == 2
    # A data element still mapped cannot be deleted; one whose mapping is gone can.
    assert (await client.delete(f"/api/data-elements/{element['id']}")).status_code == 204


async def test_concurrent_duplicate_mappings_create_one(client: AsyncClient) -> None:
    schema = await create_schema(client, "KYC", "1.0.0")
    product = await create_product(client)
    url = f"{SCHEMAS}/{schema['id']}/product-mappings"
    body = {"field_path": "fields.x", "product_id": product["id"]}
    responses = await asyncio.gather(*(client.post(url, json=body) for _ in range(6)))
    assert sorted(r.status_code for r in responses) == [201] + [409] * 5
    assert ok(await client.get(url))["total"] == 1


async def test_every_write_is_audited(client: AsyncClient) -> None:
    request_id = unique("reg-req")
    schema = ok(
        await client.post(
            SCHEMAS,
            json={"regulatory_type": "GDPR", "version": "1.0.0", "spec_json": {"a": 1}},
            headers={"X-Request-ID": request_id},
        ),
        201,
    )
    await client.patch(f"{SCHEMAS}/{schema['id']}", json={"status": "approved"})
    product = await create_product(client)
    url = f"{SCHEMAS}/{schema['id']}/product-mappings"
    mapping = ok(await client.post(url, json={"field_path": "a", "product_id": product["id"]}), 201)
    await client.delete(f"{url}/{mapping['id']}")

    events = ok(await client.get("/api/audit/events", params={"resource_id": schema["id"]}))
    assert [e["action"] for e in events["items"]] == ["approve", "create"]
    created = events["items"][1]
    assert (created["resource_type"], created["request_id"]) == ("regulatory_schema", request_id)
    assert created["after"]["version"] == "1.0.0"
    approved = events["items"][0]
    assert (approved["before"]["status"], approved["after"]["status"]) == ("draft", "approved")
    mapping_events = ok(
        await client.get("/api/audit/events", params={"resource_id": mapping["id"]})
    )
    assert [e["action"] for e in mapping_events["items"]] == ["delete", "create"]
    assert mapping_events["items"][0]["resource_type"] == "schema_product_mapping"
