"""Each product and regulatory event reaches a subscriber with what it says happened, and a
write that fails says nothing (the events of tests/notify/test_delivery.py's kind, through
the HTTP surface, on both databases)."""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient

from catalog.app import create_app
from catalog.kit.dataset_refs import source_of_url
from catalog.settings import Settings
from tests.api.test_quality import measure
from tests.api.test_regulatory import KYC_V1, KYC_V1_1, create_schema
from tests.ingest.test_crawl import crawled, product_of
from tests.support.api import create_element, create_product, error_of, ok, unique
from tests.support.receiver import Receiver
from tests.support.wait import until

ALLOW_LOCAL = {"notify_allowed_hosts": ("127.0.0.1",), "notify_interval_s": 0.05}


@pytest.fixture
async def client(
    make_settings: Callable[..., Settings],
    open_client: Callable[[FastAPI], Awaitable[AsyncClient]],
) -> AsyncClient:
    return await open_client(create_app(make_settings(**ALLOW_LOCAL)))


async def subscribe(client: AsyncClient, receiver: Receiver, **scope: Any) -> dict[str, Any]:
    body = {"url": receiver.url} | scope
    return ok(await client.post("/api/subscriptions", json=body), 201)  # type: ignore[no-any-return]


async def received(receiver: Receiver, kind: str, count: int = 1) -> list[dict[str, Any]]:
    """The bodies of `kind` once `count` of them arrived, in the order the events were made
    (deliveries are sent concurrently: they may arrive in another)."""

    async def enough() -> list[dict[str, Any]] | None:
        found = [b for b in receiver.bodies if b["type"] == kind]
        return sorted(found, key=lambda b: b["id"]) if len(found) >= count else None

    return await until(enough, lambda: f"{count} {kind} (got {receiver.bodies})")


async def test_a_version_is_announced_with_its_changes(
    client: AsyncClient, receiver: Receiver
) -> None:
    product = await create_product(client)
    await subscribe(client, receiver, product_id=product["id"])
    url = f"/api/data-products/{product['id']}/versions"
    ok(await client.post(url, json={"version": "1.0.0", "description": "first"}), 201)
    [first] = await received(receiver, "product.version_published")
    assert first["subject"] == {
        "kind": "data_product",
        "id": product["id"],
        "name": product["name"],
        "version": "1.0.0",
    }
    assert first["link"] == f"/ui/products/{product['id']}"
    assert first["payload"]["version"] == "1.0.0"
    assert first["payload"]["description"] == "first"
    assert first["payload"]["breaking"] is False
    assert first["payload"]["changes"][0]["text"].startswith("First version")
    patch = {"visibility": "restricted"}  # narrower: consumers must act
    ok(await client.patch(f"/api/data-products/{product['id']}", json=patch))
    ok(await client.post(url, json={"version": "1.1.0"}), 201)
    error_of(await client.post(url, json={"version": "1.1.0"}), 409)  # refused: no event
    ok(await client.post(url, json={"version": "2.0.0"}), 201)  # a major rise
    _, narrowed, major = await received(receiver, "product.version_published", 3)
    assert (narrowed["payload"]["version"], narrowed["payload"]["breaking"]) == ("1.1.0", True)
    assert {"text": "Visibility: public → restricted", "breaking": True} in narrowed["payload"][
        "changes"
    ]
    assert (major["payload"]["version"], major["payload"]["breaking"]) == ("2.0.0", True)
    versions = sorted(b["payload"]["version"] for b in receiver.bodies)
    assert versions == ["1.0.0", "1.1.0", "2.0.0"]  # the refused duplicate said nothing


async def test_a_schema_change_is_announced_breaking_or_not(
    client: AsyncClient, receiver: Receiver
) -> None:
    product = await create_product(client)
    await subscribe(
        client, receiver, product_id=product["id"], event_types=["product.schema_changed"]
    )
    url = f"/api/data-products/{product['id']}/schema"
    key, amount, note = unique("key"), unique("amount"), unique("note")
    columns = [
        {"name": key, "physical_type": "bigint"},
        {"name": amount, "physical_type": "numeric(12,2)"},
    ]
    wider = [*columns, {"name": note, "physical_type": "text"}]
    ok(await client.put(url, json={"version": "1.0.0", "columns": columns}))
    ok(await client.put(url, json={"version": "1.1.0", "columns": wider}))
    ok(await client.put(url, json={"version": "2.0.0", "columns": columns[:1]}))  # two dropped
    first, added, dropped = await received(receiver, "product.schema_changed", 3)
    assert (first["payload"]["version"], first["payload"]["columns"]) == ("1.0.0", 2)
    assert (added["payload"]["version"], added["payload"]["breaking"]) == ("1.1.0", False)
    assert [c["field_path"] for c in added["payload"]["changes"]] == [f"columns.{note}"]
    assert (dropped["payload"]["version"], dropped["payload"]["breaking"]) == ("2.0.0", True)
    assert all(c["change_type"] == "removed" for c in dropped["payload"]["changes"])
    assert {b["type"] for b in receiver.bodies} == {"product.schema_changed"}  # the filter


async def test_a_schema_versions_breaking_is_the_diffs_and_a_refused_put_says_nothing(
    client: AsyncClient, receiver: Receiver
) -> None:
    product = await create_product(client)
    await subscribe(
        client, receiver, product_id=product["id"], event_types=["product.version_published"]
    )
    url = f"/api/data-products/{product['id']}/schema"
    key, amount, note = unique("key"), unique("amount"), unique("note")
    columns = [
        {"name": key, "physical_type": "bigint"},
        {"name": amount, "physical_type": "numeric(12,2)"},
    ]
    ok(await client.put(url, json={"version": "1.0.0", "columns": columns}))
    # A column dropped under a minor number: breaking all the same, the diff says so.
    ok(await client.put(url, json={"version": "1.1.0", "columns": columns[:1]}))
    error_of(await client.put(url, json={"version": "1.2.0", "columns": columns[:1]}), 409)
    unbound = [{"name": note, "physical_type": "text", "data_element_id": "no-such-element"}]
    error_of(await client.put(url, json={"version": "1.3.0", "columns": unbound}), 422)
    # A column added under a major number: not breaking, the diff says so.
    wider = [columns[0], {"name": note, "physical_type": "text"}]
    ok(await client.put(url, json={"version": "3.0.0", "columns": wider}))
    first, dropped, added = await received(receiver, "product.version_published", 3)
    assert first["payload"]["breaking"] is False
    assert first["payload"]["changes"][0]["text"].startswith("First version")
    assert (dropped["payload"]["version"], dropped["payload"]["breaking"]) == ("1.1.0", True)
    assert {"text": f"Schema removed: {amount}", "breaking": True} in dropped["payload"]["changes"]
    assert (added["payload"]["version"], added["payload"]["breaking"]) == ("3.0.0", False)
    assert {"text": f"Schema added: {note}", "breaking": False} in added["payload"]["changes"]
    versions = [b["payload"]["version"] for b in receiver.bodies]
    assert sorted(versions) == ["1.0.0", "1.1.0", "3.0.0"]  # the refused puts said nothing


async def test_deprecations_are_announced(client: AsyncClient, receiver: Receiver) -> None:
    product = await create_product(client)
    await subscribe(client, receiver, product_id=product["id"], event_types=["product.deprecated"])
    url = f"/api/data-products/{product['id']}"
    ok(await client.post(url + "/versions", json={"version": "1.0.0"}), 201)
    body = {"reason": "replaced by orders v2"}
    ok(await client.post(url + "/versions/1.0.0/deprecate", json=body))
    ok(await client.patch(url, json={"status": "published"}))
    ok(await client.patch(url, json={"status": "deprecated"}))
    version, whole = await received(receiver, "product.deprecated", 2)
    assert version["payload"] == {"version": "1.0.0", "reason": "replaced by orders v2"}
    assert whole["payload"]["version"] is None
    assert whole["subject"]["id"] == product["id"]


async def test_a_quality_drop_is_announced_to_the_products_holding_the_element(
    client: AsyncClient, receiver: Receiver
) -> None:
    element = await create_element(client)
    holder, other = await create_product(client), await create_product(client)
    members = f"/api/data-products/{holder['id']}/elements"
    ok(await client.post(members, json={"data_element_id": element["id"]}), 201)
    await subscribe(client, receiver, event_types=["product.quality_dropped"])
    await measure(client, element["id"], 0.9, 0.9, 0.9, 0.9)  # good: nothing to say
    await measure(client, element["id"], 0.85, 0.85, 0.85, 0.85)  # a small dip: nothing
    await measure(client, element["id"], 0.6, 0.6, 0.6, 0.6)  # below 0.7
    [drop] = await received(receiver, "product.quality_dropped")
    assert drop["subject"]["id"] == holder["id"] != other["id"]
    assert drop["payload"]["element_id"] == element["id"]
    assert (drop["payload"]["previous"], drop["payload"]["score"]) == (0.85, 0.6)
    assert drop["payload"]["threshold"] == 0.7
    assert len(receiver.bodies) == 1


async def test_a_table_gone_from_its_source_deprecates_its_product(
    client: AsyncClient, receiver: Receiver, tmp_path: Path
) -> None:
    source_file = tmp_path / "source.db"
    with sqlite3.connect(source_file) as source:
        source.executescript("CREATE TABLE kept (id INTEGER); CREATE TABLE gone (id INTEGER);")
    url = f"sqlite:///{source_file}"
    await crawled(client, url)
    gone = await product_of(client, f"{source_of_url(url)}/main/gone")
    await subscribe(client, receiver, event_types=["product.deprecated"])
    with sqlite3.connect(source_file) as source:
        source.execute("DROP TABLE gone")
    assert (await crawled(client, url))["counts"]["deprecate"] == 1
    [deprecated] = await received(receiver, "product.deprecated")
    assert deprecated["subject"]["id"] == gone["id"]
    assert deprecated["payload"] == {"version": None, "reason": "its table is gone from the source"}
    assert len(receiver.bodies) == 1


async def test_a_fall_by_the_drop_and_a_first_poor_score_are_announced(
    client: AsyncClient, receiver: Receiver
) -> None:
    """The drop rule's two halves beyond crossing the threshold (0.7): a fall of exactly the
    drop (0.1) while still above it, and a first measurement already below it; a product
    holding the element twice (a member and a schema column bound to it) hears once."""
    bound, member = await create_element(client), await create_element(client)
    holder = await create_product(client)
    column = {"name": unique("col"), "physical_type": "text", "data_element_id": bound["id"]}
    schema = {"version": "1.0.0", "columns": [column]}
    ok(await client.put(f"/api/data-products/{holder['id']}/schema", json=schema))
    members = f"/api/data-products/{holder['id']}/elements"
    ok(await client.post(members, json={"data_element_id": bound["id"]}), 201)
    other = await create_product(client)
    members = f"/api/data-products/{other['id']}/elements"
    ok(await client.post(members, json={"data_element_id": member["id"]}), 201)
    await subscribe(client, receiver, event_types=["product.quality_dropped"])
    await measure(client, bound["id"], 0.95, 0.95, 0.95, 0.95)  # a first good score: nothing
    await measure(client, bound["id"], 0.85, 0.85, 0.85, 0.85)  # down by 0.1 (in floats, less)
    await measure(client, bound["id"], 0.8, 0.8, 0.8, 0.8)  # down by 0.05: nothing
    await measure(client, member["id"], 0.5, 0.5, 0.5, 0.5)  # first, and below 0.7
    fell, first = await received(receiver, "product.quality_dropped", 2)
    assert fell["subject"]["id"] == holder["id"]
    assert fell["payload"] == {
        "element_id": bound["id"],
        "element_name": bound["name"],
        "previous": 0.95,
        "score": 0.85,
        "level": "good",
        "threshold": 0.7,
        "drop": 0.1,
    }
    assert first["subject"]["id"] == other["id"]
    assert (first["payload"]["previous"], first["payload"]["score"]) == (None, 0.5)
    assert first["payload"]["level"] == "fair"
    assert len(receiver.bodies) == 2


async def test_a_regulatory_version_is_announced(client: AsyncClient, receiver: Receiver) -> None:
    await subscribe(client, receiver, event_types=["regulatory_schema.version_added"])
    kind = unique("KYC")
    await create_schema(client, kind, "1.0", KYC_V1)
    second = await create_schema(client, kind, "1.1", KYC_V1_1)
    first, added = await received(receiver, "regulatory_schema.version_added", 2)
    assert first["subject"]["kind"] == "regulatory_schema"
    assert (first["payload"]["previous_version"], first["payload"]["changes"]) == (None, 0)
    assert added["subject"]["id"] == second["id"]
    assert added["link"] == f"/ui/regulatory/{second['id']}"
    assert added["payload"]["regulatory_type"] == kind
    assert (added["payload"]["version"], added["payload"]["previous_version"]) == ("1.1", "1.0")
    assert added["payload"]["changes"] > 0
    assert 0 < added["payload"]["breaking_changes"] <= added["payload"]["changes"]
