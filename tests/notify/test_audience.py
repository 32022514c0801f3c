"""Who hears what (auth on): the subscriber's own subscriptions, restricted products, the
stewards' events, tag subtrees and teams; Slack and email; the SSRF guard again at delivery.
Through the HTTP API with real receivers (and a real SMTP server), on both databases.

What reached a subscriber is read at its receiver; what did not is read from its deliveries
(`GET /api/subscriptions/{id}/deliveries`) once a later event has been fanned out: the worker
fans events out in commit order, so by then every earlier event has been matched."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient

from catalog.app import create_app
from catalog.settings import Settings
from tests.support.api import create_product, error_of, ok, unique
from tests.support.receiver import Receiver
from tests.support.wait import until
from tests.test_auth import write_tokens

OpenClient = Callable[[FastAPI], Awaitable[AsyncClient]]
ALLOW_LOCAL = {"notify_allowed_hosts": ("127.0.0.1",), "notify_interval_s": 0.05}
# token, subject, role, team
PEOPLE = {
    "adm": ("adm-token-000001", "adm", "admin", None),
    "ana": ("ana-token-000001", "ana", "viewer", "alpha"),
    "bob": ("bob-token-000001", "bob", "viewer", "beta"),
    "sue": ("sue-token-000001", "sue", "steward", "alpha"),
    "sid": ("sid-token-000001", "sid", "steward", "beta"),
}


def as_(who: str) -> dict[str, str]:
    return {"authorization": f"Bearer {PEOPLE[who][0]}"}


@pytest.fixture
async def client(
    make_settings: Callable[..., Settings], open_client: OpenClient, tmp_path: Path
) -> AsyncClient:
    tokens = write_tokens(tmp_path / "tokens", PEOPLE)
    settings = make_settings(**ALLOW_LOCAL, enable_auth=True, auth_tokens_file=tokens)
    return await open_client(create_app(settings))


class Subscribers:
    """One webhook subscription per person, each posting to /hook/<who> of one receiver."""

    def __init__(self, client: AsyncClient, receiver: Receiver) -> None:
        self.client = client
        self.receiver = receiver
        self.ids: dict[str, str] = {}

    async def add(self, who: str, **scope: Any) -> None:
        body = {"url": f"{self.receiver.url}/{who}"} | scope
        answer = await self.client.post("/api/subscriptions", json=body, headers=as_(who))
        self.ids[who] = ok(answer, 201)["id"]

    def bodies(self, who: str) -> list[dict[str, Any]]:
        path = f"/hook/{who}"
        return [json.loads(r.raw) for r in self.receiver.received if r.path == path]

    async def hears(self, who: str, kind: str, subject_id: str) -> dict[str, Any]:
        """The body of that event once it reached `who`."""

        async def arrived() -> dict[str, Any] | None:
            found = [
                b for b in self.bodies(who) if (b["type"], b["subject"]["id"]) == (kind, subject_id)
            ]
            return found[0] if found else None

        return await until(arrived, f"{kind} on {subject_id} reaching {who}")

    async def fanned_out(self, who: str) -> set[str]:
        """The ids of the events matched to `who`'s subscription so far."""
        url = f"/api/subscriptions/{self.ids[who]}/deliveries"
        page = ok(await self.client.get(url, params={"limit": 500}, headers=as_(who)))
        return {d["event_id"] for d in page["items"]}

    async def settled(self) -> None:
        """Every event made so far has been matched: a version of a new public product,
        made now, reached the admin's unscoped subscription (add it first)."""
        product = await create_product(self.client, as_("adm"), team="gamma")
        await publish(self.client, product["id"], "1.0.0")
        await self.hears("adm", "product.version_published", product["id"])


async def publish(client: AsyncClient, product_id: str, version: str) -> None:
    url = f"/api/data-products/{product_id}/versions"
    ok(await client.post(url, json={"version": version}, headers=as_("adm")), 201)


async def test_each_caller_manages_their_own_and_an_admin_everyones(
    client: AsyncClient, receiver: Receiver
) -> None:
    people = Subscribers(client, receiver)
    await people.add("ana")
    await people.add("bob")
    anas, bobs = people.ids["ana"], people.ids["bob"]
    mine = ok(await client.get("/api/subscriptions", headers=as_("ana")))
    assert [s["id"] for s in mine["items"]] == [anas]
    assert "secret" not in mine["items"][0]
    error_of(await client.get(f"/api/subscriptions/{bobs}", headers=as_("ana")), 404)
    error_of(await client.delete(f"/api/subscriptions/{bobs}", headers=as_("ana")), 404)
    error_of(await client.get("/api/subscriptions?all=true", headers=as_("ana")), 403)
    everyone = ok(await client.get("/api/subscriptions?all=true", headers=as_("adm")))
    assert {anas, bobs} <= {s["id"] for s in everyone["items"]}
    answer = await client.delete(f"/api/subscriptions/{bobs}", headers=as_("adm"))
    assert answer.status_code == 204
    error_of(await client.get(f"/api/subscriptions/{bobs}", headers=as_("bob")), 404)


async def test_a_restricted_product_is_heard_only_by_those_who_may_see_it(
    client: AsyncClient, receiver: Receiver
) -> None:
    people = Subscribers(client, receiver)
    for who in ("adm", "ana", "bob", "sid"):
        await people.add(who, event_types=["product.version_published"])
    hidden = await create_product(client, as_("adm"), team="alpha", visibility="restricted")
    await publish(client, hidden["id"], "1.0.0")
    event = await people.hears("ana", "product.version_published", hidden["id"])  # their team
    await people.hears("sid", "product.version_published", hidden["id"])  # a steward sees all
    await people.settled()
    assert event["id"] not in await people.fanned_out("bob")  # another team's viewer: no
    # ... nor can bob subscribe to it by id: a product he cannot see is none to him.
    body = {"url": f"{receiver.url}/bob", "product_id": hidden["id"]}
    error_of(await client.post("/api/subscriptions", json=body, headers=as_("bob")), 422)


async def test_access_requests_reach_the_teams_stewards_and_the_requester(
    client: AsyncClient, receiver: Receiver
) -> None:
    people = Subscribers(client, receiver)
    await people.add("adm")
    product = await create_product(client, as_("adm"), team="alpha")
    for who in ("ana", "bob", "sue", "sid"):
        await people.add(who, product_id=product["id"])
    body = {"product_id": product["id"], "reason": "quarterly report"}
    request = ok(await client.post("/api/access-requests", json=body, headers=as_("bob")), 201)
    decision = f"/api/access-requests/{request['id']}/approve"
    ok(await client.post(decision, json={"comments": "ok"}, headers=as_("sue")))
    created = await people.hears("sue", "access_request.created", request["id"])
    await people.hears("adm", "access_request.created", request["id"])
    await people.hears("bob", "access_request.created", request["id"])  # their own request
    decided = await people.hears("bob", "access_request.decided", request["id"])
    assert decided["payload"]["status"] == "approved"
    assert decided["payload"]["decided_by"] == "sue"
    await people.hears("sue", "access_request.decided", request["id"])
    await people.hears("sid", "access_request.decided", request["id"])  # stewards hear decisions
    await people.settled()
    assert created["id"] not in await people.fanned_out("sid")  # a steward of another team
    assert not await people.fanned_out("ana")  # a consumer hears of nobody's requests


async def test_a_tag_covers_its_subtree_and_a_team_its_products(
    client: AsyncClient, receiver: Receiver
) -> None:
    async def tag(**body: Any) -> dict[str, Any]:
        answer = await client.post("/api/tags", json=body, headers=as_("adm"))
        return ok(answer, 201)  # type: ignore[no-any-return]

    people = Subscribers(client, receiver)
    await people.add("adm")
    parent = await tag(name=unique("domain"))
    child = await tag(name=unique("sub"), parent_tag_id=parent["id"])
    sibling = await tag(name=unique("other"))
    in_tree = await create_product(client, as_("adm"), team="beta")
    outside = await create_product(client, as_("adm"), team="beta")
    for product, tagged in ((in_tree, child), (outside, sibling)):
        url = f"/api/data-products/{product['id']}/tags"
        ok(await client.post(url, json={"tag_id": tagged["id"]}, headers=as_("adm")), 201)
    await people.add("ana", tag=parent["name"])  # by name, or id
    await people.add("bob", team="beta")
    await publish(client, in_tree["id"], "1.0.0")
    await publish(client, outside["id"], "1.0.0")
    await people.hears("ana", "product.version_published", in_tree["id"])
    await people.hears("bob", "product.version_published", in_tree["id"])
    await people.hears("bob", "product.version_published", outside["id"])
    await people.settled()
    assert len(await people.fanned_out("ana")) == 1  # the sibling tag's product: not under it
    assert len(await people.fanned_out("bob")) == 2  # the marker is team gamma's
