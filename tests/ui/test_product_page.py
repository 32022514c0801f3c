"""The product page and the request-access form, through the app, on SQLite and PostgreSQL."""

from __future__ import annotations

import html
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from httpx import AsyncClient, Response

from catalog.app import create_app
from catalog.products.schemas import LineageEdgeOut, LineageNode, LineageOut
from catalog.products.version_changes import Change, changes_between
from catalog.settings import Settings
from catalog.ui.lineage_svg import layout
from tests.conftest import base_settings
from tests.support.api import create_element, create_product, ok, unique
from tests.support.search import caught_up
from tests.support.wait import until
from tests.test_auth import TOKENS, write_tokens

Opener = Callable[..., Awaitable[AsyncClient]]


def page(response: Response, status: int = 200) -> str:
    assert response.status_code == status, f"{response.status_code}: {response.text[:2000]}"
    assert response.headers["content-type"].startswith("text/html")
    return response.text


def section(text: str, section_id: str) -> str:
    """The HTML of one `<section id=...>` of the page."""
    match = re.search(rf'<section id="{section_id}".*?</section>', text, re.S)
    assert match, f"no section #{section_id}"
    return match.group(0)


def csrf_of(text: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', text)
    assert match
    return match.group(1)


def h1_of(text: str) -> str:
    match = re.search(r"<h1>(.*?)</h1>", text, re.S)
    assert match
    return html.unescape(match.group(1)).strip()


async def add_member(client: AsyncClient, product_id: str, element_id: str) -> None:
    url = f"/api/data-products/{product_id}/elements"
    ok(await client.post(url, json={"data_element_id": element_id}), 201)


async def feed(client: AsyncClient, downstream_id: str, upstream_id: str) -> None:
    url = f"/api/data-products/{downstream_id}/lineage"
    ok(await client.post(url, json={"upstream_id": upstream_id}), 201)


async def test_product_page_shows_the_product(client: AsyncClient) -> None:
    product = await create_product(
        client, name="Customer 360", description="All **bold** facts about customers."
    )
    pid = product["id"]
    domain = ok(
        await client.post(
            "/api/value-domains",
            json={
                "name": unique("country codes"),
                "type": "enumerated",
                "permissible_values": [{"value": "NL"}, {"value": "BE"}],
            },
        ),
        201,
    )
    country = await create_element(
        client,
        name=unique("country"),
        definition="The customer's country of residence",
        representation={"name": unique("iso-3166"), "value_domain_id": domain["id"]},
    )
    legacy = await create_element(client, name=unique("legacy_code"))
    await add_member(client, pid, country["id"])
    await add_member(client, pid, legacy["id"])
    ok(await client.post(f"/api/data-products/{pid}/versions", json={"version": "1.0.0"}), 201)
    remove = f"/api/data-products/{pid}/elements/{legacy['id']}"
    assert (await client.delete(remove)).status_code == 204
    ok(
        await client.post(
            f"/api/data-products/{pid}/versions",
            json={"version": "2.0.0", "description": "Drops the *legacy* code"},
        ),
        201,
    )
    tag = ok(await client.post("/api/tags", json={"name": "customer data"}), 201)
    ok(await client.post(f"/api/data-products/{pid}/tags", json={"tag_id": tag["id"]}), 201)
    for score in (0.5, 0.9):
        ok(
            await client.post(
                f"/api/data-elements/{country['id']}/quality",
                json=dict.fromkeys(
                    ("completeness", "accuracy", "consistency", "timeliness"), score
                ),
            ),
            201,
        )
    usage = f"/api/data-products/{pid}/usage"
    ok(await client.post(usage, json={"event": "view", "user_id": "ann"}), 201)
    ok(await client.post(usage, json={"event": "rating", "user_id": "ann", "rating": 4}), 201)

    text = page(await client.get(f"/ui/products/{pid}"))

    assert h1_of(text) == "Customer 360"
    assert text.count("<h1>") == 1
    overview = section(text, "overview")
    assert "All <strong>bold</strong> facts about customers." in overview
    assert "owner@example.com" in overview
    assert "finance" in overview
    assert "draft" in overview
    assert "public" in overview
    versions = section(text, "versions")
    assert versions.index("v2.0.0") < versions.index("v1.0.0")  # newest first
    assert re.search(r'class="breaking">.*Element removed: legacy_code', versions)
    assert "Drops the <em>legacy</em> code" in versions
    assert "First version: 2 elements, 0 tags" in versions
    tags = section(text, "tags")
    assert 'href="/ui/search?tag=customer%20data"' in tags
    assert ">customer data</a>" in tags
    quality = section(text, "quality")
    assert "<strong>90%</strong>" in quality  # the element's latest score
    assert quality.count("<tr>") == 3  # head + two measurements
    usage_html = section(text, "usage")
    assert re.search(r"<dt>Views</dt><dd>1</dd>", usage_html)
    assert "4.0 of 5 from 1 rating" in usage_html
    elements = section(text, "elements")
    assert f'href="/ui/registry/elements/{country["id"]}"' in elements
    assert "The customer&#39;s country of residence" in elements
    assert f'href="/ui/registry/domains/{domain["id"]}"' in elements
    assert legacy["name"] not in elements
    assert f'id="request-access" class="button" href="/ui/products/{pid}/request-access"' in text


async def test_user_text_is_escaped_and_links_neutralised(client: AsyncClient) -> None:
    product = await create_product(
        client,
        name="<script>alert(1)</script>",
        description="Raw <img src=x onerror=alert(1)> and [x](javascript:alert(1)) here",
    )
    text = page(await client.get(f"/ui/products/{product['id']}"))
    assert "<script>alert(1)</script>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert h1_of(text) == "<script>alert(1)</script>"
    assert "<img src=x" not in text
    assert "<img" not in text
    assert "&lt;img src=x onerror=alert(1)&gt;" in text
    assert "javascript:" not in text.replace("[x](javascript:alert(1))", "")
    assert 'href="javascript' not in text


async def test_lineage_is_drawn_and_clickable(client: AsyncClient) -> None:
    source, middle, sink, far, beyond = [
        await create_product(client, name=f"Lineage {n}")
        for n in ("Source", "Middle", "Sink", "Far", "Beyond")
    ]
    element = await create_element(client, name=unique("raw_feed"))
    await feed(client, middle["id"], source["id"])
    await feed(client, sink["id"], middle["id"])
    await feed(client, far["id"], sink["id"])
    await feed(client, beyond["id"], far["id"])
    ok(
        await client.post(
            f"/api/data-products/{source['id']}/lineage",
            json={"upstream_id": element["id"], "upstream_type": "element"},
        ),
        201,
    )
    text = page(await client.get(f"/ui/products/{middle['id']}"))
    lineage = section(text, "lineage")
    svg = re.search(r"<svg.*?</svg>", lineage, re.S)
    assert svg
    nodes = dict(
        re.findall(
            r'<a href="/ui/products/([^"]+)" class="lineage-node[^"]*"[^>]*>\s*<title>([^<(]+)',
            svg.group(0),
        )
    )
    # depth 2 by default: the element feeding Source shows, Beyond (3 down) does not
    assert {v.strip() for v in nodes.values()} == {
        "Lineage Source",
        "Lineage Middle",
        "Lineage Sink",
        "Lineage Far",
    }
    assert (
        f'href="/ui/products/{middle["id"]}" class="lineage-node current" aria-current="page"'
        in svg.group(0)
    )
    assert f'href="/ui/registry/elements/{element["id"]}" class="lineage-element"' in svg.group(0)
    assert svg.group(0).count('class="lineage-edge"') == 4
    x_of = {
        pid: int(x)
        for pid, x in re.findall(
            r'href="/ui/products/([^"]+)"[^>]*>\s*<title>[^<]*</title>\s*<rect x="(\d+)"',
            svg.group(0),
        )
    }
    assert (
        x_of[source["id"]] < x_of[middle["id"]] < x_of[sink["id"]] < x_of[far["id"]]
    )  # upstream on the left
    assert "There is more lineage than shown" in lineage
    assert "Lineage Beyond" not in lineage
    lists = lineage[svg.end() :]
    assert "<h3>Upstream</h3>" in lists
    assert "Lineage Source" in lists
    assert element["name"] in lists
    deeper = section(page(await client.get(f"/ui/products/{middle['id']}?depth=3")), "lineage")
    assert "Lineage Beyond" in deeper
    # following a node opens that product's page
    assert h1_of(page(await client.get(f"/ui/products/{sink['id']}"))) == "Lineage Sink"
    assert "Levels shown" in page(await client.get(f"/ui/products/{far['id']}?depth=4"))
    page(await client.get(f"/ui/products/{far['id']}?depth=5"), 400)


async def test_unknown_product_is_the_404_page(client: AsyncClient) -> None:
    text = page(await client.get("/ui/products/no-such-product"), 404)
    assert h1_of(text) == "data product no-such-product not found"
    page(await client.get("/ui/products/no-such-product/request-access"), 404)


async def test_request_access(client: AsyncClient) -> None:
    product = await create_product(client)
    url = f"/ui/products/{product['id']}/request-access"
    form = page(await client.get(url))
    assert h1_of(form).startswith("Request access to ")
    for name in ('name="reason"', 'name="comments"', 'name="expires_at" type="date"'):
        assert name in form
    assert re.search(r"<textarea id=\"reason\" name=\"reason\"[^>]*required", form)
    assert ">Send request</button>" in form
    token = csrf_of(form)

    missing = page(await client.post(url, data={"csrf": token, "reason": "  "}), 400)
    assert 'role="alert"' in missing
    assert "the reason is required" in missing
    past = page(
        await client.post(
            url,
            data={
                "csrf": token,
                "reason": "audit",
                "comments": "keep me",
                "expires_at": "2000-01-01",
            },
        ),
        400,
    )
    assert "The expiry date is in the past" in past
    assert ">keep me</textarea>" in past
    forged = await client.post(url, data={"reason": "no token"})
    assert forged.status_code == 403
    assert "<h1>" in forged.text
    assert ok(await client.get("/api/access-requests"))["items"] == []

    sent = await client.post(
        url,
        data={
            "csrf": token,
            "reason": "Quarterly audit",
            "comments": "read only",
            "expires_at": "2999-12-31",
        },
    )
    assert sent.status_code == 303
    assert sent.headers["location"] == "/ui/access"
    [made] = ok(await client.get("/api/access-requests"))["items"]
    assert (made["product_id"], made["reason"], made["comments"], made["status"]) == (
        product["id"],
        "Quarterly audit",
        "read only",
        "pending",
    )
    assert made["expires_at"].startswith("3000-01-01T00:00:00")  # to the end of that day
    again = page(await client.post(url, data={"csrf": token, "reason": "again"}), 409)
    assert "already has a pending access request" in again
    assert len(ok(await client.get("/api/access-requests"))["items"]) == 1
    stats = ok(await client.get(f"/api/data-products/{product['id']}/usage"))
    assert stats["access_requests"] == 1  # the refused duplicate left no trace


async def test_search_click_is_reported(sqlite_client: AsyncClient) -> None:
    client = sqlite_client
    product = await create_product(client, name="Clickable Churn", status="published")

    async def searched() -> Any:
        found = ok(await client.get("/api/discover/search", params={"q": "clickable"}))
        return found if found["results"] else None

    found = await until(searched, "the product in the index", 15, 0.05)
    url = f"/ui/products/{product['id']}?search_id={found['search_id']}"
    assert h1_of(page(await client.get(url))) == "Clickable Churn"
    page(await client.get(f"/ui/products/{product['id']}?search_id=not-a-search"))  # ignored

    async def clicked() -> Any:
        items = ok(await client.get("/api/discover/popular-searches"))["items"]
        return items if items and items[0]["clicks"] == 1 else None

    assert (await until(clicked, "the click recorded", 15, 0.05))[0]["query"] == "clickable"


async def test_restricted_product_is_a_404_for_other_teams(
    database_url: str, tmp_path: Path, open_client: Opener
) -> None:
    settings: Settings = base_settings(
        database_url, enable_auth=True, auth_tokens_file=write_tokens(tmp_path / "t", TOKENS)
    )
    app: FastAPI = create_app(settings)
    client = await open_client(app)

    def bearer(who: str) -> dict[str, str]:
        return {"authorization": f"Bearer {TOKENS[who][0]}"}

    secret = await create_product(
        client, name="Risk Limits", team="risk", visibility="restricted", headers=bearer("editor")
    )
    digest = await create_product(client, name="Risk Digest", team="risk", headers=bearer("editor"))
    await feed_as(client, digest["id"], secret["id"], bearer("editor"))
    url = f"/ui/products/{secret['id']}"
    assert h1_of(page(await client.get(url, headers=bearer("viewer")), 404)).endswith("not found")
    page(await client.get(url + "/request-access", headers=bearer("viewer")), 404)
    assert h1_of(page(await client.get(url, headers=bearer("viewer2")))) == "Risk Limits"
    seen_by_finance = page(
        await client.get(f"/ui/products/{digest['id']}", headers=bearer("viewer"))
    )
    assert "Risk Limits" not in seen_by_finance  # hidden from the lineage, as the API hides it
    assert "Risk Limits" in page(
        await client.get(f"/ui/products/{digest['id']}", headers=bearer("steward"))
    )


async def feed_as(
    client: AsyncClient, downstream_id: str, upstream_id: str, headers: dict[str, str]
) -> None:
    url = f"/api/data-products/{downstream_id}/lineage"
    ok(await client.post(url, json={"upstream_id": upstream_id}, headers=headers), 201)


def test_changes_between_versions() -> None:
    old = {
        "product": {"name": "A", "visibility": "public", "status": "published", "description": "x"},
        "elements": [{"id": "1", "name": "one"}, {"id": "2", "name": "two"}],
        "tags": ["t1"],
    }
    new = {
        "product": {
            "name": "A",
            "visibility": "restricted",
            "status": "published",
            "description": "y",
        },
        "elements": [{"id": "2", "name": "two"}, {"id": "3", "name": "three"}],
        "tags": ["t2"],
    }
    assert changes_between(old, new) == [
        Change("Visibility: public → restricted", True),
        Change("Element removed: one", True),
        Change("Description changed"),
        Change("Element added: three"),
        Change("Tag removed: t1"),
        Change("Tag added: t2"),
    ]
    assert changes_between(old, old) == [Change("No changes")]
    deprecated = {"product": {"status": "deprecated"}, "elements": ["one"], "tags": None}
    assert changes_between({"product": {"status": "published"}}, deprecated) == [
        Change("Status: published → deprecated", True),
        Change("Element added: one"),
    ]


def test_layout_puts_upstream_left_and_downstream_right() -> None:
    def walk(
        direction: str, nodes: list[tuple[str, int]], edges: list[tuple[str, str]]
    ) -> LineageOut:
        return LineageOut(
            product_id="p",
            direction=direction,  # type: ignore[arg-type]
            depth=2,
            nodes=[LineageNode(type="product", id=i, name=i.upper(), depth=d) for i, d in nodes],
            edges=[
                LineageEdgeOut(
                    upstream_type="product",
                    upstream_id=u,
                    downstream_type="product",
                    downstream_id=d,
                    relationship="feeds",
                )
                for u, d in edges
            ],
            truncated=False,
        )

    up = walk(
        "upstream", [("p", 0), ("a", 1), ("b", 1), ("c", 2)], [("a", "p"), ("b", "p"), ("c", "b")]
    )
    down = walk("downstream", [("p", 0), ("d", 1)], [("p", "d")])
    drawing = layout("p", "P", up, down)
    x = {box.id: box.x for box in drawing.boxes}
    assert x["c"] < x["a"] == x["b"] < x["p"] < x["d"]
    assert [box.id for box in drawing.side(-1)] == ["a", "b", "c"]
    assert [box.id for box in drawing.side(1)] == ["d"]
    assert len(drawing.arrows) == 4
    assert [box.current for box in drawing.boxes if box.id == "p"] == [True]


async def test_product_page_shows_the_schema_its_coverage_and_its_changes(
    client: AsyncClient,
) -> None:
    product = await create_product(client, name=unique("Orders table"))
    url = f"/api/data-products/{product['id']}/schema"
    amount, note = unique("amount"), unique("note")
    first = [
        {"name": amount, "physical_type": "numeric(10,2)", "description": "Gross amount"},
        {"name": note, "physical_type": "text"},
    ]
    ok(await client.put(url, json={"version": "1.0.0", "columns": first}))
    second = [first[0] | {"physical_type": "integer"}]  # note dropped, amount retyped
    ok(await client.put(url, json={"version": "2.0.0", "columns": second}))

    text = page(await client.get(f"/ui/products/{product['id']}"))
    schema = html.unescape(section(text, "schema"))
    assert amount in schema
    assert "integer" in schema
    assert "Gross amount" in schema
    assert note not in schema  # the current schema only
    assert "governed column coverage 0%" in schema  # new draft elements have no definition
    versions = html.unescape(section(text, "versions"))
    assert "First version: 0 elements, 0 tags, 2 columns" in versions
    assert f"Schema removed: {note}" in versions
    assert f"Schema modified: {amount}.physical_type" in versions
    assert versions.count("breaking</span>") >= 2  # the version badge and the removed column

    # The search page names the coverage of a product with a schema.
    await caught_up(client)
    found = page(await client.get("/ui/search", params={"q": product["name"]}))
    assert "governed columns 0%" in found


def test_a_changed_schema_is_listed_by_the_api_s_diff() -> None:
    old = {"schema": {"columns": [{"name": "a", "physical_type": "int", "nullable": True}]}}
    new = {"schema": {"columns": [{"name": "a", "physical_type": "int", "nullable": False}]}}
    assert changes_between(old, new) == [Change("Schema modified: a.nullable", True)]
    assert changes_between(new, {}) == [Change("Schema removed", True)]
