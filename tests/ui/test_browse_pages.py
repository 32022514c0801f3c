"""The tag tree and regulatory pages through HTTP: tags nest under their parents with their
product counts and lead to the search; regulatory schemas list their versions and field-level
changes (breaking ones marked) and their mappings to data."""

from __future__ import annotations

import html
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from httpx import AsyncClient

from catalog.app import create_app
from catalog.tags.schemas import TagOut
from catalog.tags.tree import Forest
from catalog.ui.browse import tree_steps
from tests.api.test_regulatory import KYC_V1, KYC_V1_1, create_schema
from tests.conftest import base_settings
from tests.support.api import create_element, create_product, ok
from tests.test_auth import TOKENS, bearer, write_tokens
from tests.ui.test_registry_pages import links, part

Opener = Callable[..., Awaitable[AsyncClient]]


async def create_tag(client: AsyncClient, name: str, **fields: Any) -> dict[str, Any]:
    return ok(await client.post("/api/tags", json={"name": name} | fields), 201)  # type: ignore[no-any-return]


async def test_tag_tree_nests_counts_and_links_to_the_search(client: AsyncClient) -> None:
    finance = await create_tag(client, "finance", category="domain")
    billing = await create_tag(client, "billing & invoices", parent_tag_id=finance["id"])
    await create_tag(client, "dunning", parent_tag_id=billing["id"])
    await create_tag(client, "marketing", category="domain")
    for name in ("Invoices", "Payments"):
        product = await create_product(client, name=name)
        body = {"tag_id": billing["id"]}
        ok(await client.post(f"/api/data-products/{product['id']}/tags", json=body), 201)

    page = await client.get("/ui/tags")
    tree = part(page, "tag-tree")
    assert "4 tags" in tree
    # finance > billing > dunning, each list inside the item of its parent
    nested = re.search(
        r"<li><a[^>]*>finance</a>.*?<ul>\s*<li><a[^>]*>billing &amp; invoices</a>.*?"
        r"<ul>\s*<li><a[^>]*>dunning</a>.*?</li>\s*</ul>\s*</li>\s*</ul>\s*</li>",
        tree,
        re.S,
    )
    assert nested, tree
    assert 'billing &amp; invoices</a> <small class="count">2 products</small>' in tree
    assert 'dunning</a> <small class="count">0 products</small>' in tree
    assert links(tree)["billing & invoices"] == "/ui/search?tag=billing%20%26%20invoices"
    assert tree.count("<ul") == tree.count("</ul>")
    assert tree.count("<li>") == tree.count("</li>") == 4

    page = await client.get("/ui/tags", params={"category": "domain"})
    assert set(links(part(page, "tag-tree"))) == {"finance", "marketing"}
    assert 'aria-current="page">domain</a>' in page.text


def test_tree_steps_survive_a_hierarchy_deeper_than_recursion() -> None:
    depth = 3000  # Python and Jinja would recurse once per level
    tags = [_tag(f"t{i}", f"t{i - 1}" if i else None) for i in range(depth)]
    forest = Forest(roots=[tags[0]], children={f"t{i}": [tags[i + 1]] for i in range(depth - 1)})
    steps = tree_steps(forest)
    assert [kind for kind, _ in steps].count("open") == depth - 1
    assert [kind for kind, _ in steps].count("close") == depth - 1
    assert steps[depth - 1] == ("leaf", tags[-1])


def _tag(tag_id: str, parent: str | None) -> TagOut:
    return TagOut.model_validate(
        {
            "id": tag_id,
            "name": tag_id,
            "category": "general",
            "description": "",
            "parent_tag_id": parent,
            "usage_count": 0,
            "created_by": None,
            "created_at": "2026-01-01T00:00:00Z",
            "updated_at": "2026-01-01T00:00:00Z",
        }
    )


async def test_regulatory_pages_show_versions_changes_and_mappings(client: AsyncClient) -> None:
    first = await create_schema(client, "KYC", "1.0.0", KYC_V1)
    second = await create_schema(client, "KYC", "1.1.0", KYC_V1_1)
    await create_schema(client, "SOX", "2.0.0")

    listing = await client.get("/ui/regulatory")
    schemas = part(listing, "regulatory-schemas", "table")
    assert links(schemas)["1.1.0"] == f"/ui/regulatory/{second['id']}"
    assert "SOX" in schemas
    only_kyc = await client.get("/ui/regulatory", params={"regulatory_type": "KYC"})
    assert "SOX" not in part(only_kyc, "regulatory-schemas", "table")

    product = await create_product(client, name="Customer master")
    element = await create_element(client, name="Tax identifier")
    mapping = {"field_path": "fields.tax_id", "product_id": product["id"]}
    mapping["data_element_id"] = element["id"]
    ok(
        await client.post(f"/api/regulatory-schemas/{second['id']}/product-mappings", json=mapping),
        201,
    )

    page = await client.get(f"/ui/regulatory/{second['id']}")
    assert "<h1>KYC 1.1.0" in page.text
    versions = part(page, "versions")
    assert links(versions) == {
        "1.0.0": f"/ui/regulatory/{first['id']}",
        "1.1.0": f"/ui/regulatory/{second['id']}",
    }
    assert 'aria-current="page">1.1.0</a>' in versions
    changes = part(page, "changes")
    expected = ok(await client.get(f"/api/regulatory-schemas/{second['id']}/changes"))
    assert expected["breaking"] > 0
    assert f"{expected['breaking']} breaking" in changes
    rows = re.findall(
        r"<tr( class=\"breaking\")?>\s*<th scope=\"row\"><code>([^<]+)</code>", changes
    )
    assert {path for _, path in rows} == {c["field_path"] for c in expected["changes"]}
    assert {html.unescape(path) for marked, path in rows if marked} == {
        c["field_path"] for c in expected["changes"] if c["breaking"]
    }
    assert changes.count('<span class="badge breaking">breaking</span>') == expected["breaking"]
    mapped = links(part(page, "mappings"))
    assert mapped["Customer master"] == f"/ui/products/{product['id']}"
    assert mapped["Tax identifier"] == f"/ui/registry/elements/{element['id']}"

    oldest = await client.get(f"/ui/regulatory/{first['id']}")
    assert "nothing to compare with" in part(oldest, "changes")

    missing = await client.get("/ui/regulatory/no-such-schema")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("text/html")
    assert "Status 404." in missing.text


async def test_a_mapped_product_the_viewer_may_not_see_is_not_named(
    database_url: str, tmp_path: Path, open_client: Opener
) -> None:
    tokens = write_tokens(tmp_path / "tokens", TOKENS)
    client = await open_client(
        create_app(base_settings(database_url, enable_auth=True, auth_tokens_file=tokens))
    )
    admin = bearer("admin")
    body = {"regulatory_type": "KYC", "version": "1.0.0", "spec_json": KYC_V1}
    schema = ok(await client.post("/api/regulatory-schemas", json=body, headers=admin), 201)
    secret = await create_product(
        client, headers=admin, name="Risk limits", team="risk", visibility="restricted"
    )
    mapping = {"field_path": "fields.customer_id", "product_id": secret["id"]}
    url = f"/api/regulatory-schemas/{schema['id']}/product-mappings"
    ok(await client.post(url, json=mapping, headers=admin), 201)

    page = f"/ui/regulatory/{schema['id']}"
    hidden = part(await client.get(page, headers=bearer("viewer")), "mappings")
    assert "fields.customer_id" in hidden
    assert "Risk limits" not in hidden
    assert "a product you cannot see" in hidden
    shown = links(part(await client.get(page, headers=bearer("viewer2")), "mappings"))
    assert shown["Risk limits"] == f"/ui/products/{secret['id']}"
