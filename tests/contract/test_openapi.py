"""What validation enforces, the OpenAPI document declares (issue 13), through the HTTP surface:
each rule is asserted twice, once in /openapi.json and once in what the server answers."""

from __future__ import annotations

import re
from typing import Any

import pytest
from httpx import AsyncClient

from catalog.kit.schemas import FILLED_LINE_PATTERN, LINE_PATTERN, TEXT_PATTERN
from tests.support.api import create_element, create_product, error_of, ok, unique

LANGEXTRACT = "/api/audit/langextract"


async def document(client: AsyncClient) -> dict[str, Any]:
    return ok(await client.get("/openapi.json"))  # type: ignore[no-any-return]


def component(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return doc["components"]["schemas"][name]  # type: ignore[no-any-return]


def operation(doc: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    return doc["paths"][path][method]  # type: ignore[no-any-return]


async def test_request_bodies_refuse_unknown_fields_and_say_so(client: AsyncClient) -> None:
    doc = await document(client)
    assert component(doc, "ProductCreate")["additionalProperties"] is False
    body = {"name": unique("p"), "team": "t", "category": "c", "owner": "o", "colour": "red"}
    error_of(await client.post("/api/data-products", json=body), 422)


async def test_control_characters_are_declared_and_refused(client: AsyncClient) -> None:
    doc = await document(client)
    name = component(doc, "ProductCreate")["properties"]["name"]
    assert name["pattern"] == FILLED_LINE_PATTERN
    body = {"name": "bell\x07", "team": "t", "category": "c", "owner": "o"}
    assert not re.search(name["pattern"], body["name"])
    error_of(await client.post("/api/data-products", json=body), 422)
    blank = {**body, "name": "   "}
    assert not re.search(name["pattern"], blank["name"])
    error_of(await client.post("/api/data-products", json=blank), 422)
    # Query strings and path parameters: the body guard's rule, in every parameter.
    search = operation(doc, "/api/discover/search", "get")
    q = next(p for p in search["parameters"] if p["name"] == "q")
    assert q["schema"]["pattern"] == TEXT_PATTERN
    assert (await client.get("/api/discover/search", params={"q": "a\x01b"})).status_code == 400


@pytest.mark.parametrize(
    ("pattern", "refused"),
    [
        (LINE_PATTERN, ["a\nb", "\x00", "tab\there", "\x7f", "unit\x1f"]),
        (TEXT_PATTERN, ["\x00", "esc\x1b[0m", "\x7f"]),
        (FILLED_LINE_PATTERN, ["", " ", "\u3000", "\xa0\u2003", "a\nb"]),
    ],
)
def test_the_patterns_say_what_the_checks_refuse(pattern: str, refused: list[str]) -> None:
    for value in refused:
        assert not re.search(pattern, value), value
    for value in ["plain", " padded ", "Ünïcødé ✓", "a\u3000b"]:
        assert re.search(pattern, value), value


async def test_booleans_and_strings_are_not_numbers(client: AsyncClient) -> None:
    base = {"extraction_id": unique("ext"), "user_id": "u", "operation_type": "extract"}
    for wrong in ({"confidence": False}, {"confidence": "0.5"}, {"processing_time_ms": "12"}):
        error_of(await client.post(LANGEXTRACT, json=base | wrong), 422)
    created = ok(
        await client.post(LANGEXTRACT, json=base | {"confidence": 1, "processing_time_ms": 12.0}),
        201,
    )
    assert (created["confidence"], created["processing_time_ms"]) == (1.0, 12)


async def test_dates_are_rfc3339_in_bodies_and_queries(client: AsyncClient) -> None:
    for until in ("0.5", "2026-01-01", "1767225600"):
        error_of(await client.get("/api/audit/events", params={"until": until}), 422)
    ok(await client.get("/api/audit/events", params={"until": "2026-01-01T00:00:00Z"}))


async def test_semantic_versions_are_declared_and_bounded(client: AsyncClient) -> None:
    doc = await document(client)
    pattern = component(doc, "VersionCreate")["properties"]["version"]["pattern"]
    product = await create_product(client)
    versions = f"/api/data-products/{product['id']}/versions"
    for bad in ("1.2", "01.2.3", "1234567890.0.0"):
        assert not re.search(pattern, bad), bad
        error_of(await client.post(versions, json={"version": bad}), 422)
    # ECMA's `$` (the document's) ends the text; Python's also matches before a last newline.
    error_of(await client.post(versions, json={"version": "1.2.3\n"}), 422)
    assert re.search(pattern, "2.0.0-rc.1+b.5")
    ok(await client.post(versions, json={"version": "2.0.0-rc.1+b.5"}), 201)


async def test_exclusive_and_conditional_fields_are_declared(client: AsyncClient) -> None:
    doc = await document(client)
    element = component(doc, "DataElementCreate")
    assert [len(rule["oneOf"]) for rule in element["allOf"]] == [2, 2]
    domain = component(doc, "ValueDomainCreate")
    assert domain["then"]["required"] == ["permissible_values"]
    enumerated = {"name": unique("vd"), "type": "enumerated"}
    error_of(await client.post("/api/value-domains", json=enumerated), 422)
    existing = await create_element(client)
    both = {
        "name": unique("e"),
        "representation_id": existing["representation_id"],
        "representation": {"name": unique("r"), "data_type": "string"},
        "data_element_concept_id": existing["data_element_concept_id"],
    }
    error_of(await client.post("/api/data-elements", json=both), 422)


async def test_if_match_is_declared_with_its_412(client: AsyncClient) -> None:
    doc = await document(client)
    patch = operation(doc, "/api/data-products/{product_id}", "patch")
    header = next(p for p in patch["parameters"] if p["name"] == "If-Match")
    assert "412" in patch["responses"]
    assert re.search(header["schema"]["pattern"], '"abc", W/"def"')
    assert not re.search(header["schema"]["pattern"], "null")
    product = await create_product(client)
    path = f"/api/data-products/{product['id']}"
    for stale in ('"0123"', "null"):
        response = await client.patch(path, json={"owner": "x"}, headers={"If-Match": stale})
        error_of(response, 412)


async def test_fields_lists_the_item_fields_and_the_page_they_make(client: AsyncClient) -> None:
    doc = await document(client)
    products = operation(doc, "/api/data-products", "get")
    fields = next(p for p in products["parameters"] if p["name"] == "fields")
    assert re.search(fields["schema"]["pattern"], " id , name,")
    assert not re.search(fields["schema"]["pattern"], "id,colour")
    error_of(await client.get("/api/data-products", params={"fields": "id,colour"}), 422)
    answer = products["responses"]["200"]["content"]["application/json"]["schema"]
    assert len(answer["anyOf"]) == 2  # the full page, or the page of the named fields


async def test_creates_link_to_what_they_created(client: AsyncClient) -> None:
    doc = await document(client)
    create = operation(doc, "/api/data-products", "post")
    links = create["responses"]["201"]["links"]
    read = operation(doc, "/api/data-products/{product_id}", "get")["operationId"]
    assert links[read]["parameters"] == {"product_id": "$response.body#/id"}
    version = operation(doc, "/api/data-products/{product_id}/versions", "post")
    targets = version["responses"]["201"]["links"].values()
    assert {"product_id": "$request.path.product_id", "version": "$response.body#/version"} in [
        t["parameters"] for t in targets
    ]
