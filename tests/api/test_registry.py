"""ISO/IEC 11179 registry through the HTTP surface, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest
from httpx import AsyncClient

from tests.support.api import create_element, create_product, error_of, ok, unique


async def test_concept_crud(client: AsyncClient) -> None:
    body = {
        "name": "Customer Age",
        "object_class": "Customer",
        "property": "Age",
        "definition": "Age in whole years.",
    }
    concept = ok(await client.post("/api/data-element-concepts", json=body), 201)
    assert concept["id"]
    assert concept["name"] == "Customer Age"
    assert ok(await client.get(f"/api/data-element-concepts/{concept['id']}")) == concept
    renamed = ok(
        await client.patch(
            f"/api/data-element-concepts/{concept['id']}", json={"definition": "Age in years."}
        )
    )
    assert renamed["definition"] == "Age in years."
    listed = ok(await client.get("/api/data-element-concepts", params={"name": "customer a"}))
    assert [c["id"] for c in listed["items"]] == [concept["id"]]
    assert (await client.delete(f"/api/data-element-concepts/{concept['id']}")).status_code == 204
    error_of(await client.get(f"/api/data-element-concepts/{concept['id']}"), 404)


async def test_duplicate_names_are_409(client: AsyncClient) -> None:
    body = {"name": "Dup", "object_class": "A", "property": "B"}
    ok(await client.post("/api/data-element-concepts", json=body), 201)
    error = error_of(await client.post("/api/data-element-concepts", json=body), 409)
    assert "Dup" in error["details"]
    await create_element(client, name="dup_element")
    error_of(
        await client.post(
            "/api/data-elements",
            json={
                "name": "dup_element",
                "data_element_concept": {"name": "x", "object_class": "x", "property": "x"},
                "representation": {"name": "r"},
            },
        ),
        409,
    )


@pytest.mark.parametrize(
    "body",
    [
        {"name": "", "object_class": "A", "property": "B"},
        {"name": "   ", "object_class": "A", "property": "B"},
        {"name": "x" * 201, "object_class": "A", "property": "B"},
        {"name": 12, "object_class": "A", "property": "B"},
        {"name": "ok", "object_class": "A"},
        {"name": "bad\x00nul", "object_class": "A", "property": "B"},
        {"name": "ok", "object_class": "A", "property": "B", "colour": "blue"},
    ],
)
async def test_bad_concepts_are_422(client: AsyncClient, body: dict) -> None:  # type: ignore[type-arg]
    error = error_of(await client.post("/api/data-element-concepts", json=body), 422)
    assert error["errors"]


async def test_enumerated_value_domain_validation(client: AsyncClient) -> None:
    domain = ok(
        await client.post(
            "/api/value-domains",
            json={
                "name": "Country Code",
                "type": "enumerated",
                "data_type": "string",
                "permissible_values": [
                    {"value": "NL", "meaning": "Netherlands"},
                    {"value": "DE", "meaning": "Germany"},
                ],
            },
        ),
        201,
    )
    assert [pv["value"] for pv in domain["permissible_values"]] == ["NL", "DE"]
    good = ok(
        await client.post(f"/api/value-domains/{domain['id']}/validate", json={"value": "NL"})
    )
    assert good == {"valid": True, "reason": None, "constraint": None}
    bad = ok(await client.post(f"/api/value-domains/{domain['id']}/validate", json={"value": "FR"}))
    assert bad["valid"] is False
    assert bad["constraint"] == "permissible_values"


@pytest.mark.parametrize(
    ("data_type", "constraints", "value", "constraint"),
    [
        ("integer", [{"type": "min", "value": 0}], -1, "min"),
        ("integer", [{"type": "max", "value": 10}], 11, "max"),
        ("integer", [{"type": "min", "value": 0}], 5, None),
        ("integer", [], 1.5, "data_type"),
        ("integer", [], "12", None),
        ("decimal", [{"type": "range", "value": {"min": 0, "max": 1}}], "1.01", "range"),
        ("decimal", [{"type": "range", "value": {"min": 0, "max": 1}}], 0.5, None),
        ("string", [{"type": "length", "value": 3}], "ABCD", "length"),
        ("string", [{"type": "min_length", "value": 2}], "A", "min_length"),
        ("string", [{"type": "max_length", "value": 2}], "ABC", "max_length"),
        ("string", [{"type": "pattern", "value": "[A-Z]{3}"}], "AB1", "pattern"),
        ("string", [{"type": "pattern", "value": "[A-Z]{3}"}], "ABC", None),
        ("string", [], 42, "data_type"),
        ("date", [{"type": "min", "value": "2020-01-01"}], "2019-12-31", "min"),
        ("date", [], "31/12/2019", "data_type"),
        ("boolean", [], "true", None),
        ("boolean", [], "yes", "data_type"),
    ],
)
async def test_non_enumerated_constraints(
    client: AsyncClient,
    data_type: str,
    constraints: list[dict[str, object]],
    value: object,
    constraint: str | None,
) -> None:
    domain = ok(
        await client.post(
            "/api/value-domains",
            json={
                "name": unique("domain"),
                "type": "non_enumerated",
                "data_type": data_type,
                "constraints": constraints,
            },
        ),
        201,
    )
    verdict = ok(
        await client.post(f"/api/value-domains/{domain['id']}/validate", json={"value": value})
    )
    assert verdict["valid"] is (constraint is None), verdict
    assert verdict["constraint"] == constraint
    if constraint:
        assert verdict["reason"]


@pytest.mark.parametrize(
    "body",
    [
        {"type": "enumerated", "permissible_values": []},
        {"type": "enumerated", "permissible_values": [{"value": "A"}, {"value": "A"}]},
        {"type": "non_enumerated", "permissible_values": [{"value": "A"}]},
        {"type": "non_enumerated", "constraints": [{"type": "pattern", "value": "(unclosed"}]},
        {"type": "non_enumerated", "constraints": [{"type": "length", "value": -1}]},
        {
            "type": "non_enumerated",
            "constraints": [{"type": "range", "value": {"min": 5, "max": 1}}],
        },
        {
            "type": "non_enumerated",
            "data_type": "integer",
            "constraints": [{"type": "min", "value": "abc"}],
        },
        {"type": "non_enumerated", "constraints": [{"type": "shape", "value": 1}]},
        {"type": "mixed"},
    ],
)
async def test_bad_value_domains_are_422(client: AsyncClient, body: dict) -> None:  # type: ignore[type-arg]
    error_of(await client.post("/api/value-domains", json={"name": unique("vd"), **body}), 422)


async def test_validate_unknown_domain_is_404(client: AsyncClient) -> None:
    error_of(await client.post("/api/value-domains/nope/validate", json={"value": 1}), 404)


async def test_element_with_inline_concept_and_representation(client: AsyncClient) -> None:
    first = await create_element(client, name="customer_id")
    assert first["registration_status"] == "draft"
    assert first["identifier"].startswith("urn:catalog:data-element:")
    concept = ok(await client.get(f"/api/data-element-concepts/{first['data_element_concept_id']}"))
    assert concept["name"] == "concept of customer_id"
    # A second element naming the same representation reuses it (by name).
    second = await create_element(client, name="customer_name")
    assert second["representation_id"] == first["representation_id"]
    listed = ok(await client.get("/api/representations", params={"name": "text-200"}))
    assert listed["total"] == 1


async def test_element_by_ids_and_by_identifier(client: AsyncClient) -> None:
    concept = ok(
        await client.post(
            "/api/data-element-concepts",
            json={"name": "Order Total", "object_class": "Order", "property": "Total"},
        ),
        201,
    )
    domain = ok(
        await client.post(
            "/api/value-domains",
            json={"name": "Money", "type": "non_enumerated", "data_type": "decimal"},
        ),
        201,
    )
    representation = ok(
        await client.post(
            "/api/representations",
            json={
                "name": "Amount",
                "data_type": "decimal",
                "precision": 18,
                "scale": 2,
                "value_domain_id": domain["id"],
            },
        ),
        201,
    )
    element = ok(
        await client.post(
            "/api/data-elements",
            json={
                "name": "order_total",
                "identifier": "https://example.org/de/order_total",
                "data_element_concept_id": concept["id"],
                "representation_id": representation["id"],
                "steward": "finance-steward",
                "source": "erp",
                "metadata": {"pii": False},
            },
        ),
        201,
    )
    assert element["metadata"] == {"pii": False}
    found = ok(await client.get("/api/data-elements", params={"identifier": element["identifier"]}))
    assert [e["id"] for e in found["items"]] == [element["id"]]
    plain = ok(
        await client.post(
            "/api/data-elements",
            json={
                "name": "order_count",
                "identifier": "DE-00042",
                "data_element_concept_id": concept["id"],
                "representation_id": representation["id"],
            },
        ),
        201,
    )
    assert ok(await client.get("/api/data-elements/DE-00042"))["id"] == plain["id"]


async def test_element_references_must_exist_and_be_unambiguous(client: AsyncClient) -> None:
    error_of(
        await client.post(
            "/api/data-elements",
            json={
                "name": "x",
                "data_element_concept_id": "missing",
                "representation": {"name": "r"},
            },
        ),
        404,
    )
    error_of(await client.post("/api/data-elements", json={"name": "x"}), 422)
    error_of(
        await client.post(
            "/api/data-elements",
            json={
                "name": "x",
                "data_element_concept_id": "a",
                "data_element_concept": {"name": "c", "object_class": "o", "property": "p"},
                "representation": {"name": "r"},
            },
        ),
        422,
    )
    error_of(
        await client.post("/api/representations", json={"name": "r", "value_domain_id": "missing"}),
        404,
    )


async def test_lifecycle_and_illegal_transitions(client: AsyncClient) -> None:
    element = await create_element(client)
    url = f"/api/data-elements/{element['id']}"
    error_of(await client.post(url + "/deprecate"), 409)
    published = ok(await client.post(url + "/publish"))
    assert published["registration_status"] == "published"
    assert published["published_at"]
    error_of(await client.post(url + "/publish"), 409)
    changed = ok(await client.patch(url, json={"definition": "sharper"}))
    assert changed["version"] == 2
    assert ok(await client.post(url + "/deprecate"))["registration_status"] == "deprecated"
    assert ok(await client.post(url + "/archive"))["registration_status"] == "archived"
    error = error_of(await client.post(url + "/publish"), 409)
    assert "archived" in error["details"]
    error_of(await client.patch(url, json={"definition": "no"}), 409)


async def test_deleting_referenced_things_is_409_naming_referrers(client: AsyncClient) -> None:
    element = await create_element(client, name="referenced_element")
    error = error_of(
        await client.delete(f"/api/data-element-concepts/{element['data_element_concept_id']}"),
        409,
    )
    assert "referenced_element" in error["details"]
    assert error["referrers"] == [
        {"type": "data_element", "id": element["id"], "name": "referenced_element"}
    ]
    error_of(await client.delete(f"/api/representations/{element['representation_id']}"), 409)
    product = await create_product(client, name="Uses It")
    ok(
        await client.post(
            f"/api/data-products/{product['id']}/elements", json={"data_element_id": element["id"]}
        ),
        201,
    )
    error = error_of(await client.delete(f"/api/data-elements/{element['id']}"), 409)
    assert "Uses It" in error["details"]
    domain = ok(
        await client.post(
            "/api/value-domains",
            json={"name": "Codes", "type": "enumerated", "permissible_values": [{"value": "A"}]},
        ),
        201,
    )
    ok(
        await client.post(
            "/api/representations", json={"name": "Code", "value_domain_id": domain["id"]}
        ),
        201,
    )
    error_of(await client.delete(f"/api/value-domains/{domain['id']}"), 409)


async def test_unknown_ids_are_404(client: AsyncClient) -> None:
    for path in (
        "/api/data-element-concepts/x",
        "/api/value-domains/x",
        "/api/representations/x",
        "/api/data-elements/x",
    ):
        error_of(await client.get(path), 404)
        error_of(await client.delete(path), 404)
    error_of(await client.post("/api/data-elements/x/publish"), 404)


async def test_bulk_mixed_batch_reports_each_item_and_writes_only_good_ones(
    client: AsyncClient,
) -> None:
    await create_element(client, name="already_there")
    inline = {
        "data_element_concept": {"name": "Bulk Concept", "object_class": "B", "property": "C"},
        "representation": {"name": "text-200"},
    }
    items = [
        {"name": "bulk_a", **inline},
        {"name": "already_there", **inline},
        {"name": "bulk_b", **inline},
        {"name": "bulk_a", **inline},  # repeated within the batch
        {"name": "", **inline},
        {"name": "bulk_c", "data_element_concept_id": "missing", "representation_id": "x"},
        {"name": "bulk_d", "unexpected": 1, **inline},
        {
            "name": "bulk_e",
            "data_element_concept": {"name": "Never Created", "object_class": "o", "property": "p"},
            "representation_id": "missing",
        },
    ]
    answer = ok(await client.post("/api/data-elements/bulk", json={"items": items}))
    statuses = [(r["index"], r["status"], r.get("code")) for r in answer["results"]]
    assert statuses == [
        (0, "created", None),
        (1, "error", 409),
        (2, "created", None),
        (3, "error", 409),
        (4, "error", 422),
        (5, "error", 404),
        (6, "error", 422),
        (7, "error", 404),
    ]
    assert (answer["created"], answer["failed"]) == (2, 6)
    assert all(r["error"] for r in answer["results"] if r["status"] == "error")
    names = {e["name"] for e in ok(await client.get("/api/data-elements?limit=500"))["items"]}
    assert names == {"already_there", "bulk_a", "bulk_b"}
    concepts = ok(await client.get("/api/data-element-concepts", params={"name": "Never"}))
    assert concepts["total"] == 0, "an item that failed must write nothing, inline parts included"


async def test_bulk_limits(client: AsyncClient) -> None:
    item = {"name": "n", "data_element_concept_id": "c", "representation_id": "r"}
    error = error_of(
        await client.post("/api/data-elements/bulk", json={"items": [item] * 1001}), 413
    )
    assert "1000" in error["details"]
    error_of(await client.post("/api/data-elements/bulk", json={"items": []}), 422)
    error_of(await client.post("/api/data-elements/bulk", json={"items": "nope"}), 422)
    error_of(await client.post("/api/data-elements/bulk", json=[item]), 422)


async def test_bulk_of_1000_creates_them_all(client: AsyncClient) -> None:
    inline = {
        "data_element_concept": {"name": "Thousand", "object_class": "T", "property": "N"},
        "representation": {"name": "text-200"},
    }
    items = [{"name": f"el_{i:04d}", **inline} for i in range(1000)]
    answer = ok(await client.post("/api/data-elements/bulk", json={"items": items}))
    assert answer["created"] == 1000
    assert len({r["id"] for r in answer["results"]}) == 1000
    assert ok(await client.get("/api/data-elements?limit=1"))["total"] == 1000


async def test_list_filters_pagination_and_projection(client: AsyncClient) -> None:
    for i in range(7):
        await create_element(client, name=f"paged_{i}", steward="s1" if i % 2 else "s2")
    page = ok(await client.get("/api/data-elements", params={"limit": 3, "offset": 3}))
    assert (page["total"], page["limit"], page["offset"], len(page["items"])) == (7, 3, 3, 3)
    assert ok(await client.get("/api/data-elements", params={"steward": "s1"}))["total"] == 3
    projected = ok(await client.get("/api/data-elements", params={"fields": "id,name", "limit": 2}))
    assert all(set(item) == {"id", "name"} for item in projected["items"])
    assert projected["total"] == 7
    error = error_of(await client.get("/api/data-elements", params={"fields": "id,secret"}), 422)
    assert "secret" in error["details"]
    for params in ({"limit": 0}, {"limit": 501}, {"offset": -1}, {"status": "gone"}):
        error_of(await client.get("/api/data-elements", params=params), 422)
    empty = ok(await client.get("/api/data-elements", params={"offset": 100}))
    assert (empty["items"], empty["total"]) == ([], 7)


async def test_concurrent_batches_sharing_inline_parts_all_succeed(client: AsyncClient) -> None:
    inline = {
        "data_element_concept": {"name": "Shared Concept", "object_class": "S", "property": "P"},
        "representation": {"name": "shared-repr"},
    }

    def batch(n: int) -> dict:  # type: ignore[type-arg]
        return {"items": [{"name": f"race_{n}_{i}", **inline} for i in range(20)]}

    answers = await asyncio.gather(
        *(client.post("/api/data-elements/bulk", json=batch(n)) for n in range(6))
    )
    assert [ok(a)["created"] for a in answers] == [20] * 6
    concepts = ok(await client.get("/api/data-element-concepts", params={"name": "Shared"}))
    assert concepts["total"] == 1
    elements = ok(await client.get("/api/data-elements", params={"limit": 500}))
    assert {e["data_element_concept_id"] for e in elements["items"]} == {concepts["items"][0]["id"]}
