"""Routes kept for clients of the upstream Go service, in the upstream shapes."""

from __future__ import annotations

from httpx import AsyncClient

from tests.support.api import error_of, ok

UPSTREAM_KEYS = {
    "id",
    "identifier",
    "name",
    "data_element_concept_id",
    "representation_id",
    "definition",
    "version",
    "created_at",
    "updated_at",
    "registration_status",
    "steward",
    "source",
    "metadata",
}


async def test_create_get_and_list_in_upstream_shape(client: AsyncClient) -> None:
    created = ok(
        await client.post(
            "/catalog/data-elements",
            json={
                "name": "Customer Name",
                "data_element_concept_id": "http://test.org/concept1",
                "representation_id": "http://test.org/representation1",
                "definition": "Name of the customer",
                "identifier": "http://test.org/element/customer-name",
            },
        ),
        201,
    )
    assert set(created) == UPSTREAM_KEYS
    # The upstream reference strings became real, reusable registry objects.
    concept = ok(
        await client.get(f"/api/data-element-concepts/{created['data_element_concept_id']}")
    )
    assert concept["name"] == "http://test.org/concept1"
    by_identifier = ok(
        await client.get("/catalog/data-elements/http://test.org/element/customer-name")
    )
    assert by_identifier["id"] == created["id"]
    assert ok(await client.get(f"/catalog/data-elements/{created['id']}")) == by_identifier
    listed = ok(await client.get("/catalog/data-elements"))
    assert listed["count"] == listed["total"] == 1
    assert listed["data_elements"][0]["name"] == "Customer Name"
    # A registered concept id is used as an id, not as a name.
    second = ok(
        await client.post(
            "/catalog/data-elements",
            json={
                "name": "Customer Code",
                "data_element_concept_id": created["data_element_concept_id"],
                "representation_id": "http://test.org/representation1",
            },
        ),
        201,
    )
    assert second["data_element_concept_id"] == created["data_element_concept_id"]
    assert second["representation_id"] == created["representation_id"]


async def test_upstream_required_fields_and_unknown_ids(client: AsyncClient) -> None:
    error_of(await client.post("/catalog/data-elements", json={"name": "x"}), 422)
    error_of(await client.get("/catalog/data-elements/http://nowhere/x"), 404)
    error_of(
        await client.post(
            "/catalog/data-elements",
            json={"name": "y", "data_element_concept_id": "c" * 300, "representation_id": "r"},
        ),
        422,
    )


async def test_bulk_takes_a_bare_array_and_reports_like_upstream(client: AsyncClient) -> None:
    body = [
        {
            "name": "Test Element 1",
            "data_element_concept_id": "http://test.org/concept1",
            "representation_id": "http://test.org/representation1",
            "definition": "one",
        },
        {
            "name": "Test Element 2",
            "data_element_concept_id": "http://test.org/concept2",
            "representation_id": "http://test.org/representation2",
            "definition": "two",
            "metadata": {"source_system": "crm"},
        },
        {
            "name": "Test Element 1",
            "data_element_concept_id": "http://test.org/concept1",
            "representation_id": "http://test.org/representation1",
        },
        {"name": "", "data_element_concept_id": "c", "representation_id": "r"},
    ]
    answer = ok(await client.post("/catalog/data-elements/bulk", json=body), 201)
    assert (answer["created"], answer["errors"]) == (2, 2)
    assert [r["name"] for r in answer["results"]] == ["Test Element 1", "Test Element 2"]
    assert answer["results"][1]["metadata"] == {"source_system": "crm"}
    assert [(f["index"], f["code"]) for f in answer["failures"]] == [(2, 409), (3, 422)]
    error_of(await client.post("/catalog/data-elements/bulk", json=[]), 422)
    error_of(await client.post("/catalog/data-elements/bulk", json={"items": []}), 422)
    error_of(await client.post("/catalog/data-elements/bulk", json=[body[0]] * 1001), 413)
