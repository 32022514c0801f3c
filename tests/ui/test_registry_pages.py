"""The registry pages through HTTP: the listing of elements, concepts and value domains with
its name search and pages, and the element, concept and value domain pages, including which
products use an element (restricted ones only for those who may see them)."""

from __future__ import annotations

import html
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from httpx import AsyncClient, Response

from catalog.app import create_app
from tests.conftest import base_settings
from tests.support.api import create_element, create_product, ok, unique
from tests.test_auth import TOKENS, bearer, write_tokens

Opener = Callable[..., Awaitable[AsyncClient]]


def part(page: Response, element_id: str, tag: str = "section") -> str:
    """The HTML inside the element with this id (sections and tables here do not nest)."""
    assert page.status_code == 200, page.text[:500]
    found = re.search(rf'<{tag}[^>]*\bid="{element_id}"[^>]*>(.*?)</{tag}>', page.text, re.S)
    assert found, f"no #{element_id} in {page.text[:800]}"
    return found.group(1)


def links(fragment: str) -> dict[str, str]:
    """Link text -> href of the links in a piece of HTML."""
    return {
        html.unescape(text.strip()): html.unescape(href)
        for href, text in re.findall(r'<a\b[^>]*\bhref="([^"]+)"[^>]*>([^<]+)</a>', fragment)
    }


async def create_domain(client: AsyncClient, **fields: Any) -> dict[str, Any]:
    body = {
        "name": unique("country codes"),
        "type": "enumerated",
        "description": "Countries as **ISO 3166** codes",
        "permissible_values": [
            {"value": "DK", "meaning": "Denmark"},
            {"value": "FR", "meaning": "France"},
        ],
    } | fields
    return ok(await client.post("/api/value-domains", json=body), 201)  # type: ignore[no-any-return]


async def test_listing_searches_by_name_per_kind_and_pages(client: AsyncClient) -> None:
    for name in ("Customer email", "Customer phone", "Invoice total"):
        await create_element(client, name=name)
    await create_domain(client, name="Customer segments")

    page = await client.get("/ui/registry")
    items = links(part(page, "registry-items", "table"))
    assert {"Customer email", "Customer phone", "Invoice total"} <= set(items)
    assert items["Invoice total"].startswith("/ui/registry/elements/")
    assert '<a href="/ui/registry" aria-current="page">Data elements</a>' in page.text
    assert 'for="registry-q"' in page.text
    assert 'id="registry-q"' in page.text

    page = await client.get("/ui/registry", params={"q": "customer"})
    assert set(links(part(page, "registry-items", "table"))) == {"Customer email", "Customer phone"}
    assert "Data elements: 2 found for “customer”" in page.text
    assert 'value="customer"' in page.text  # the field keeps what was searched

    page = await client.get("/ui/registry", params={"kind": "concepts", "q": "Invoice"})
    assert set(links(part(page, "registry-items", "table"))) == {"concept of Invoice total"}
    assert 'aria-current="page">Concepts</a>' in page.text

    page = await client.get("/ui/registry", params={"kind": "domains", "q": "segment"})
    domains = links(part(page, "registry-items", "table"))
    assert set(domains) == {"Customer segments"}
    assert domains["Customer segments"].startswith("/ui/registry/domains/")

    page = await client.get("/ui/registry", params={"q": "no such element"})
    assert "Nothing here matches “no such element”" in html.unescape(page.text)
    assert 'id="registry-items"' not in page.text


async def test_listing_pages_and_filters_by_status(client: AsyncClient) -> None:
    names = [f"Paged element {i:02}" for i in range(27)]
    ok(
        await client.post(
            "/api/data-elements/bulk",
            json={
                "items": [
                    {
                        "name": name,
                        "data_element_concept": {
                            "name": "paged concept",
                            "object_class": "Thing",
                            "property": "Number",
                        },
                        "representation": {"name": "paged text", "data_type": "string"},
                    }
                    for name in names
                ]
            },
        )
    )
    first = await client.get("/ui/registry", params={"q": "paged"})
    assert len(links(part(first, "registry-items", "table"))) == 25
    assert "1\N{EN DASH}25 of 27" in first.text
    next_link = re.search(r'<a rel="next" href="([^"]+)"', first.text)
    assert next_link, first.text
    second = await client.get(html.unescape(next_link.group(1)))
    assert len(links(part(second, "registry-items", "table"))) == 2
    assert "26\N{EN DASH}27 of 27" in second.text
    assert 'rel="prev"' in second.text

    published = ok(await client.get("/api/data-elements", params={"name": names[3]}))["items"][0]
    ok(await client.post(f"/api/data-elements/{published['id']}/publish"))
    page = await client.get("/ui/registry", params={"q": "paged", "status": "published"})
    assert set(links(part(page, "registry-items", "table"))) == {names[3]}

    bad = await client.get("/ui/registry", params={"kind": "nonsense"})
    assert bad.status_code == 400
    assert bad.headers["content-type"].startswith("text/html")


async def test_element_page_shows_its_parts_and_the_products_using_it(
    client: AsyncClient,
) -> None:
    domain = await create_domain(client)
    element = await create_element(
        client,
        name="Customer country <b>",
        steward="data-office",
        representation={
            "name": unique("country code"),
            "data_type": "string",
            "length": 2,
            "value_domain_id": domain["id"],
        },
    )
    unused = await create_element(client, name="Unused element")
    users = [await create_product(client, name=f"Uses country {i}") for i in range(2)]
    await create_product(client, name="Does not use it")
    for product in users:
        body = {"data_element_id": element["id"], "role": "key"}
        ok(await client.post(f"/api/data-products/{product['id']}/elements", json=body), 201)

    page = await client.get(f"/ui/registry/elements/{element['id']}")
    assert "<h1>Customer country &lt;b&gt;" in page.text  # escaped, never markup
    assert element["identifier"] in page.text
    assert "data-office" in page.text
    assert f"concept of {element['name']}" in links(part(page, "concept"))
    representation = part(page, "value-domain")
    assert links(representation)[domain["name"]] == f"/ui/registry/domains/{domain['id']}"
    assert "Denmark" in representation
    assert "FR" in representation
    used_by = part(page, "used-by")
    assert links(used_by) == {p["name"]: f"/ui/products/{p['id']}" for p in users}
    assert "2 data products" in used_by

    page = await client.get(f"/ui/registry/elements/{unused['id']}")
    assert "No data product you can see uses this element." in part(page, "used-by")
    assert "No value domain." in part(page, "value-domain")

    concept_page = await client.get(f"/ui/registry/concepts/{element['data_element_concept_id']}")
    assert links(part(concept_page, "concept-elements")) == {
        element["name"]: f"/ui/registry/elements/{element['id']}"
    }

    domain_page = await client.get(f"/ui/registry/domains/{domain['id']}")
    assert f"<h1>{domain['name']}</h1>" in domain_page.text
    values = part(domain_page, "domain-values")
    assert "Denmark" in values
    assert "France" in values
    assert "<strong>ISO 3166</strong>" in domain_page.text  # the description is markdown


async def test_unknown_items_are_the_html_404_page(client: AsyncClient) -> None:
    for url in (
        "/ui/registry/elements/no-such-element",
        "/ui/registry/concepts/no-such-concept",
        "/ui/registry/domains/no-such-domain",
    ):
        page = await client.get(url)
        assert page.status_code == 404, url
        assert page.headers["content-type"].startswith("text/html")
        assert "Status 404." in page.text


async def test_restricted_product_using_an_element_is_hidden_like_the_api_hides_it(
    database_url: str, tmp_path: Path, open_client: Opener
) -> None:
    tokens = write_tokens(tmp_path / "tokens", TOKENS)
    client = await open_client(
        create_app(base_settings(database_url, enable_auth=True, auth_tokens_file=tokens))
    )
    admin = bearer("admin")  # sees every product it sets up
    element = await create_element(client, headers=admin, name="Limit amount")
    secret = await create_product(
        client, headers=admin, name="Risk limits", team="risk", visibility="restricted"
    )
    public = await create_product(client, headers=admin, name="Risk digest", team="risk")
    for product in (secret, public):
        ok(
            await client.post(
                f"/api/data-products/{product['id']}/elements",
                json={"data_element_id": element["id"]},
                headers=admin,
            ),
            201,
        )
    url = f"/ui/registry/elements/{element['id']}"

    async def users(who: str) -> set[str]:
        return set(links(part(await client.get(url, headers=bearer(who)), "used-by")))

    assert await users("viewer") == {"Risk digest"}  # finance: not the risk team's secret
    assert await users("viewer2") == {"Risk digest", "Risk limits"}  # the risk team
    assert await users("steward") == {"Risk digest", "Risk limits"}
    anonymous = await client.get(url)  # no credentials: to the sign-in page
    assert anonymous.status_code == 303
    assert anonymous.headers["location"].startswith("/ui/sign-in")
