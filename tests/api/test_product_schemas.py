"""Dataset schemas of data products, on SQLite and PostgreSQL: versions with the field-level
changes, reading them back, data elements matched or created, coverage, validation."""

from __future__ import annotations

from typing import Any

import pytest
from httpx import AsyncClient

from tests.support.api import create_element, create_product, error_of, ok, unique
from tests.support.search import caught_up

SEARCH = "/api/discover/search"


def col(name: str, physical_type: str = "varchar(50)", **fields: Any) -> dict[str, Any]:
    return {"name": name, "physical_type": physical_type} | fields


async def put(client: AsyncClient, product_id: str, version: str, columns: list[Any]) -> Any:
    body = {"version": version, "columns": columns}
    return await client.put(f"/api/data-products/{product_id}/schema", json=body)


async def test_schema_versions_carry_the_changes(client: AsyncClient) -> None:
    product = await create_product(client)
    url = f"/api/data-products/{product['id']}/schema"
    error_of(await client.get(url), 404)  # no schema yet
    id_, amount, note = unique("id"), unique("amount"), unique("note")
    first = [col(id_, "bigint", nullable=False, primary_key=True), col(amount, "numeric(10,2)")]
    v1 = ok(await put(client, product["id"], "1.0.0", first))
    assert (v1["version"], v1["changes"], v1["breaking"]) == ("1.0.0", [], False)
    assert [c["name"] for c in v1["snapshot"]["schema"]["columns"]] == [id_, amount]

    # A nullable column added: not breaking.
    second = [*first, col(note, "text")]
    v2 = ok(await put(client, product["id"], "1.1.0", second))
    assert v2["breaking"] is False
    [added] = v2["changes"]
    assert (added["field_path"], added["change_type"], added["breaking"]) == (
        f"columns.{note}",
        "added",
        False,
    )
    assert added["new_value"]["physical_type"] == "text"
    assert added["new_value"]["nullable"] is True

    # The same columns again: 409, nothing versioned.
    error_of(await put(client, product["id"], "1.1.1", second), 409)
    # A type changed and a column removed: both breaking.
    third = [col(id_, "varchar(36)", nullable=False, primary_key=True), col(note, "text")]
    v3 = ok(await put(client, product["id"], "2.0.0", third))
    assert v3["breaking"] is True
    changes = {(c["field_path"], c["change_type"]): c for c in v3["changes"]}
    assert set(changes) == {
        (f"columns.{amount}", "removed"),
        (f"columns.{id_}.physical_type", "modified"),
    }
    typed = changes[(f"columns.{id_}.physical_type", "modified")]
    assert (typed["old_value"], typed["new_value"], typed["breaking"]) == (
        "bigint",
        "varchar(36)",
        True,
    )
    assert changes[(f"columns.{amount}", "removed")]["breaking"] is True
    # A column made non-nullable: breaking, told in the column's words.
    fourth = [third[0], col(note, "text", nullable=False)]
    v4 = ok(await put(client, product["id"], "3.0.0", fourth))
    [required] = v4["changes"]
    assert (required["field_path"], required["old_value"], required["new_value"]) == (
        f"columns.{note}.nullable",
        True,
        False,
    )
    assert required["breaking"] is True
    assert v4["breaking"] is True

    # A non-nullable column added: breaking (consumers must now send it).
    fifth = [*fourth, col(unique("must"), "date", nullable=False)]
    v5 = ok(await put(client, product["id"], "4.0.0", fifth))
    assert [(c["change_type"], c["breaking"]) for c in v5["changes"]] == [("added", True)]
    assert v5["breaking"] is True
    error_of(await put(client, product["id"], "4.0.1", fifth), 409)

    current = ok(await client.get(url))
    assert [c["name"] for c in current["columns"]] == [id_, note, fifth[2]["name"]]
    assert current["columns"][1]["nullable"] is False
    assert set(current["columns"][0]) == {
        "name",
        "physical_type",
        "nullable",
        "primary_key",
        "default",
        "description",
        "tags",
        "data_element_id",
    }
    old = ok(await client.get(url, params={"version": "1.0.0"}))
    assert [c["name"] for c in old["columns"]] == [id_, amount]
    assert old["columns"][1]["physical_type"] == "numeric(10,2)"
    # The version answers hold the schema too; a version frozen before any schema has none.
    listed = ok(await client.get(f"/api/data-products/{product['id']}/versions"))
    assert {v["version"] for v in listed["items"]} == {"1.0.0", "1.1.0", "2.0.0", "3.0.0", "4.0.0"}
    error_of(await put(client, product["id"], "3.0.0", first), 409)  # version taken
    bare = await create_product(client)
    ok(
        await client.post(f"/api/data-products/{bare['id']}/versions", json={"version": "0.1.0"}),
        201,
    )
    bare_url = f"/api/data-products/{bare['id']}/schema"
    error_of(await client.get(bare_url, params={"version": "0.1.0"}), 404)
    error_of(await client.get(url, params={"version": "9.9.9"}), 404)


async def test_columns_are_bound_to_data_elements(client: AsyncClient) -> None:
    name = unique("customer_id")
    first = await create_product(client)
    v1 = ok(await put(client, first["id"], "1.0.0", [col(name, "bigint")]))
    [column] = v1["snapshot"]["schema"]["columns"]
    element = ok(await client.get(f"/api/data-elements/{column['data_element_id']}"))
    assert (element["name"], element["registration_status"]) == (name, "draft")

    # A second product's column of that name and data type: the same element.
    second = await create_product(client)
    v2 = ok(await put(client, second["id"], "1.0.0", [col(name, "int8")]))
    assert v2["snapshot"]["schema"]["columns"][0]["data_element_id"] == element["id"]
    found = ok(await client.get("/api/data-elements", params={"name": name}))
    assert [e["id"] for e in found["items"]] == [element["id"]]

    # The name with another data type is a 409 unless the element is named by id.
    third = await create_product(client)
    error_of(await put(client, third["id"], "1.0.0", [col(name, "text")]), 409)
    bound = col(name, "text", data_element_id=element["id"])
    v3 = ok(await put(client, third["id"], "1.0.0", [bound]))
    assert v3["snapshot"]["schema"]["columns"][0]["data_element_id"] == element["id"]
    unknown = col(unique("c"), data_element_id="no-such-element")
    error_of(await put(client, third["id"], "2.0.0", [unknown]), 422)  # (the body's reference)


async def governed_and_undefined(client: AsyncClient) -> tuple[dict[str, Any], ...]:
    """Two elements with a value domain: one defined (governed), one without a definition."""
    domain = ok(
        await client.post(
            "/api/value-domains",
            json={"name": unique("domain"), "type": "non_enumerated", "data_type": "string"},
        ),
        201,
    )
    representation = {
        "name": unique("repr"),
        "data_type": "string",
        "value_domain_id": domain["id"],
    }
    governed = await create_element(client, representation=representation)
    undefined = await create_element(
        client, definition="", representation=representation | {"name": unique("r")}
    )
    return governed, undefined


async def test_governed_column_coverage(client: AsyncClient) -> None:
    governed, undefined = await governed_and_undefined(client)
    product = await create_product(client)
    url = f"/api/data-products/{product['id']}/schema"

    async def coverage(columns: list[Any], version: str) -> float:
        ok(await put(client, product["id"], version, columns))
        return ok(await client.get(url))["governed_column_coverage"]  # type: ignore[no-any-return]

    bound = col("a", data_element_id=governed["id"])
    assert await coverage([col(unique("raw"))], "1.0.0") == 0  # a new draft: no definition
    assert await coverage([bound, col("b", data_element_id=undefined["id"])], "2.0.0") == 0.5
    assert await coverage([bound], "3.0.0") == 1
    assert ok(await client.get(url, params={"version": "2.0.0"}))["governed_column_coverage"] == 0.5


async def test_coverage_is_in_the_product_answer_and_search_and_follows_element_edits(
    client: AsyncClient,
) -> None:
    governed, undefined = await governed_and_undefined(client)
    product = await create_product(client, name=unique("Coverage cube"))
    product_url = f"/api/data-products/{product['id']}"
    assert ok(await client.get(product_url))["governed_column_coverage"] is None  # no schema
    columns = [col("a", data_element_id=governed["id"]), col("b", data_element_id=undefined["id"])]
    ok(await put(client, product["id"], "1.0.0", columns))
    assert ok(await client.get(product_url))["governed_column_coverage"] == 0.5

    async def in_search() -> Any:
        await caught_up(client)
        found = ok(await client.get(SEARCH, params={"q": product["name"]}))["results"]
        return next(r["governed_column_coverage"] for r in found if r["id"] == product["id"])

    assert await in_search() == 0.5
    # Defining the undefined element governs its column: the product's figure follows.
    edited = {"definition": "The b of a thing."}
    ok(await client.patch(f"/api/data-elements/{undefined['id']}", json=edited))
    assert ok(await client.get(product_url))["governed_column_coverage"] == 1
    assert await in_search() == 1
    # Deleting it unbinds the column (SET NULL): half again.
    deleted = await client.delete(f"/api/data-elements/{undefined['id']}")
    assert deleted.status_code == 204, deleted.text
    assert ok(await client.get(product_url))["governed_column_coverage"] == 0.5


@pytest.mark.parametrize(
    "columns",
    [
        [],
        [col("a"), col("a")],
        [col("")],
        [col("a", "")],
        [col("a") | {"nullable": "yes"}],
        [col("a") | {"unknown": 1}],
        [col(f"c{i}") for i in range(2001)],
    ],
    ids=["empty", "duplicate", "empty-name", "empty-type", "not-bool", "unknown", "too-many"],
)
async def test_bad_schemas_are_422(client: AsyncClient, columns: list[Any]) -> None:
    product = await create_product(client)
    error_of(await put(client, product["id"], "1.0.0", columns), 422)


async def test_bad_version_and_unknown_product(client: AsyncClient) -> None:
    product = await create_product(client)
    error_of(await put(client, product["id"], "one", [col("a")]), 422)
    error_of(await put(client, "no-such-product", "1.0.0", [col("a")]), 404)
    error_of(await client.get("/api/data-products/no-such-product/schema"), 404)
