"""Access requests: lifecycle, illegal transitions, counters, roles, and concurrent decisions."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from starlette.types import ASGIApp, Receive, Scope, Send

from catalog.app import create_app
from catalog.identity.principal import Principal
from catalog.settings import Settings
from tests.support.api import create_product, error_of, ok
from tests.support.audit import audit_actions

REQUESTS = "/api/access-requests"
MISSING = "00000000-0000-0000-0000-000000000000"
Opener = Callable[[FastAPI], Awaitable[AsyncClient]]


def in_days(days: int) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


async def request_access(client: AsyncClient, product_id: str, **more: Any) -> Any:
    body = {"product_id": product_id, "reason": "quarterly reporting"} | more
    return ok(await client.post(REQUESTS, json=body), 201)


async def move(client: AsyncClient, request_id: str, action: str, **body: Any) -> Any:
    return await client.post(f"{REQUESTS}/{request_id}/{action}", json=body or None)


async def counters(client: AsyncClient, product_id: str) -> tuple[int, int, int]:
    stats = ok(await client.get(f"/api/data-products/{product_id}/usage"))
    return stats["access_requests"], stats["approved_access"], stats["rejected_access"]


async def test_create_answers_a_pending_request_of_the_caller(client: AsyncClient) -> None:
    product = await create_product(client)
    expires = in_days(30)
    created = await request_access(
        client, product["id"], requester_team="finance", expires_at=expires
    )
    assert created["id"]
    assert created["status"] == "pending"
    assert created["requester"] == "anonymous"
    assert created["requester_team"] == "finance"
    assert created["reason"] == "quarterly reporting"
    assert datetime.fromisoformat(created["expires_at"]) == datetime.fromisoformat(expires)
    assert created["decided_by"] is None
    assert ok(await client.get(f"{REQUESTS}/{created['id']}")) == created
    assert await counters(client, product["id"]) == (1, 0, 0)


async def test_approve_then_revoke(client: AsyncClient, database_url: str) -> None:
    product = await create_product(client)
    request = await request_access(client, product["id"])
    approved = ok(await move(client, request["id"], "approve", comments="fine"))
    assert approved["status"] == "approved"
    assert approved["decided_by"] == "anonymous"
    assert approved["decided_at"] is not None
    assert approved["decision_comments"] == "fine"
    assert await counters(client, product["id"]) == (1, 1, 0)
    revoked = ok(await move(client, request["id"], "revoke", comments="left the team"))
    assert revoked["status"] == "revoked"
    assert revoked["revoked_by"] == "anonymous"
    assert revoked["revoked_at"] is not None
    assert revoked["revoke_comments"] == "left the team"
    assert revoked["decision_comments"] == "fine"
    assert ok(await client.get(f"{REQUESTS}/{request['id']}"))["status"] == "revoked"
    assert await audit_actions(database_url, request["id"]) == ["create", "approve", "revoke"]


async def test_reject_and_cancel(client: AsyncClient, database_url: str) -> None:
    product = await create_product(client)
    rejected = await request_access(client, product["id"])
    body = ok(await move(client, rejected["id"], "reject", comments="no need"))
    assert (body["status"], body["decision_comments"]) == ("rejected", "no need")
    cancelled = await request_access(client, product["id"])
    assert ok(await move(client, cancelled["id"], "cancel"))["status"] == "cancelled"
    assert await counters(client, product["id"]) == (2, 0, 1)
    assert await audit_actions(database_url, rejected["id"]) == ["create", "reject"]
    assert await audit_actions(database_url, cancelled["id"]) == ["create", "cancel"]


async def test_decisions_need_no_body(client: AsyncClient) -> None:
    product = await create_product(client)
    request = await request_access(client, product["id"])
    approved = ok(await client.post(f"{REQUESTS}/{request['id']}/approve"))
    assert (approved["status"], approved["decision_comments"]) == ("approved", None)


@pytest.mark.parametrize(
    ("setup", "illegal"),
    [
        (["approve"], "approve"),
        (["approve"], "reject"),
        (["approve"], "cancel"),
        (["reject"], "reject"),
        (["reject"], "approve"),
        (["reject"], "revoke"),
        ([], "revoke"),
        (["cancel"], "approve"),
        (["cancel"], "cancel"),
        (["approve", "revoke"], "revoke"),
        (["approve", "revoke"], "approve"),
    ],
)
async def test_illegal_transitions_are_409(
    client: AsyncClient, setup: list[str], illegal: str
) -> None:
    product = await create_product(client)
    request = await request_access(client, product["id"])
    for action in setup:
        ok(await move(client, request["id"], action))
    before = ok(await client.get(f"{REQUESTS}/{request['id']}"))
    before_counters = await counters(client, product["id"])
    error = error_of(await move(client, request["id"], illegal), 409)
    assert before["status"] in error["details"]
    assert ok(await client.get(f"{REQUESTS}/{request['id']}")) == before
    assert await counters(client, product["id"]) == before_counters


@pytest.mark.parametrize("action", ["approve", "reject", "revoke", "cancel"])
async def test_moves_of_unknown_requests_are_404(client: AsyncClient, action: str) -> None:
    error_of(await move(client, MISSING, action), 404)


async def test_unknown_request_is_404(client: AsyncClient) -> None:
    error_of(await client.get(f"{REQUESTS}/{MISSING}"), 404)


async def test_unknown_product_is_404(client: AsyncClient) -> None:
    body = {"product_id": MISSING, "reason": "x"}
    error_of(await client.post(REQUESTS, json=body), 404)
    error_of(await client.post("/api/discover/access-request", json=body), 404)


async def test_second_pending_request_is_409_until_decided(client: AsyncClient) -> None:
    product = await create_product(client)
    first = await request_access(client, product["id"])
    error = error_of(
        await client.post(REQUESTS, json={"product_id": product["id"], "reason": "again"}), 409
    )
    assert first["id"] in error["details"]
    assert await counters(client, product["id"]) == (1, 0, 0)
    ok(await move(client, first["id"], "reject"))
    await request_access(client, product["id"])  # nothing pending any more
    other = await create_product(client)
    await request_access(client, other["id"])  # another product is another request
    assert await counters(client, product["id"]) == (2, 0, 1)


async def test_concurrent_duplicate_requests_make_one(client: AsyncClient) -> None:
    product = await create_product(client)
    body = {"product_id": product["id"], "reason": "race"}
    responses = await asyncio.gather(*(client.post(REQUESTS, json=body) for _ in range(10)))
    assert sorted(r.status_code for r in responses) == [201] + [409] * 9
    page = ok(await client.get(REQUESTS, params={"product_id": product["id"]}))
    assert page["total"] == 1
    assert await counters(client, product["id"]) == (1, 0, 0)


@pytest.mark.parametrize(
    "changes",
    [
        {"expires_at": "2000-01-01T00:00:00Z"},
        {"expires_at": (datetime.now(UTC) + timedelta(days=1)).replace(tzinfo=None).isoformat()},
        {"expires_at": "tomorrow"},
        {"reason": ""},
        {"reason": None},
        {"product_id": ""},
        {"product_id": 5},
        {"requester_team": "x" * 201},
        {"requester": "someone-else"},
        {"requester_id": "someone-else"},  # only the upstream route takes it
        {"comments": 5},
        {"status": "approved"},
    ],
)
async def test_bad_create_bodies_are_422(client: AsyncClient, changes: dict[str, Any]) -> None:
    product = await create_product(client)
    body = {"product_id": product["id"], "reason": "because"} | changes
    assert error_of(await client.post(REQUESTS, json=body), 422)["errors"]
    assert await counters(client, product["id"]) == (0, 0, 0)


async def test_bad_decision_bodies_are_422(client: AsyncClient) -> None:
    product = await create_product(client)
    request = await request_access(client, product["id"])
    error_of(await move(client, request["id"], "approve", comments=5), 422)
    error_of(await move(client, request["id"], "approve", comment="typo"), 422)
    assert ok(await client.get(f"{REQUESTS}/{request['id']}"))["status"] == "pending"


async def test_filters_and_fields(client: AsyncClient) -> None:
    one, two = await create_product(client), await create_product(client)
    a = await request_access(client, one["id"])
    b = await request_access(client, two["id"])
    ok(await move(client, b["id"], "approve"))

    def ids(page: Any) -> list[str]:
        return [item["id"] for item in page["items"]]

    everything = ok(await client.get(REQUESTS))
    assert (everything["total"], ids(everything)) == (2, [a["id"], b["id"]])
    assert ids(ok(await client.get(REQUESTS, params={"status": "approved"}))) == [b["id"]]
    assert ids(ok(await client.get(REQUESTS, params={"status": "pending"}))) == [a["id"]]
    assert ids(ok(await client.get(REQUESTS, params={"product_id": one["id"]}))) == [a["id"]]
    assert ok(await client.get(REQUESTS, params={"requester": "anonymous"}))["total"] == 2
    assert ok(await client.get(REQUESTS, params={"requester": "nobody"}))["total"] == 0
    page = ok(await client.get(REQUESTS, params={"limit": 1, "offset": 1}))
    assert (page["total"], page["limit"], page["offset"], ids(page)) == (2, 1, 1, [b["id"]])
    projected = ok(await client.get(REQUESTS, params={"fields": "id,status"}))
    assert projected["items"][0] == {"id": a["id"], "status": "pending"}
    error_of(await client.get(REQUESTS, params={"fields": "id,nope"}), 422)
    error_of(await client.get(REQUESTS, params={"status": "granted"}), 422)
    error_of(await client.get(REQUESTS, params={"limit": 0}), 422)


async def test_compat_route_returns_the_real_request(client: AsyncClient) -> None:
    product = await create_product(client)
    body = {"product_id": product["id"], "reason": "legacy client", "requester_team": "ops"}
    created = ok(await client.post("/api/discover/access-request", json=body), 201)
    assert created["status"] == "pending"
    found = ok(await client.get(f"{REQUESTS}/{created['id']}"))
    assert found == created
    assert found["requester_team"] == "ops"
    # The compat path and the real one share the one-pending rule.
    error_of(await client.post(REQUESTS, json=body), 409)
    assert await counters(client, product["id"]) == (1, 0, 0)


async def test_compat_route_takes_the_upstream_body(client: AsyncClient) -> None:
    """Without authentication the upstream `requester_id` names the requester (there is no
    other name: every caller is the anonymous principal), and `comments` is kept."""
    product = await create_product(client)
    body = {
        "product_id": product["id"],
        "requester_id": "bob",
        "requester_team": "ops",
        "reason": "month-end close",
        "comments": "read-only is enough",
    }
    created = ok(await client.post("/api/discover/access-request", json=body), 201)
    assert (created["requester"], created["requester_team"]) == ("bob", "ops")
    assert (created["reason"], created["comments"]) == ("month-end close", "read-only is enough")
    assert ok(await client.get(f"{REQUESTS}/{created['id']}")) == created
    assert ok(await client.get(REQUESTS, params={"requester": "bob"}))["total"] == 1
    # One pending request per named requester: Bob again is a duplicate, Carol is not.
    error = error_of(await client.post("/api/discover/access-request", json=body), 409)
    assert "bob" in error["details"]
    carol = ok(
        await client.post("/api/discover/access-request", json=body | {"requester_id": "carol"}),
        201,
    )
    assert carol["requester"] == "carol"
    assert await counters(client, product["id"]) == (2, 0, 0)
    for bad in ("", "x" * 201, "bob\x07"):
        answer = await client.post(
            "/api/discover/access-request", json=body | {"requester_id": bad}
        )
        assert error_of(answer, 422)["errors"]


async def test_comments_are_kept_on_the_real_route_too(client: AsyncClient) -> None:
    product = await create_product(client)
    created = await request_access(client, product["id"], comments="until the audit ends")
    assert created["comments"] == "until the audit ends"
    assert (await request_access(client, (await create_product(client))["id"]))["comments"] is None


async def test_concurrent_approvals_approve_once(client: AsyncClient) -> None:
    product = await create_product(client)
    request = await request_access(client, product["id"])
    responses = await asyncio.gather(*(move(client, request["id"], "approve") for _ in range(10)))
    assert sorted(r.status_code for r in responses) == [200] + [409] * 9
    assert await counters(client, product["id"]) == (1, 1, 0)


async def test_concurrent_approve_and_reject_decide_once(client: AsyncClient) -> None:
    product = await create_product(client)
    request = await request_access(client, product["id"])
    actions = ["approve", "reject"] * 5
    responses = await asyncio.gather(*(move(client, request["id"], a) for a in actions))
    winners = [a for a, r in zip(actions, responses, strict=True) if r.status_code == 200]
    assert len(winners) == 1
    assert all(r.status_code in (200, 409) for r in responses)
    _, approved, rejected = await counters(client, product["id"])
    assert approved + rejected == 1
    status = ok(await client.get(f"{REQUESTS}/{request['id']}"))["status"]
    assert status == {"approve": "approved", "reject": "rejected"}[winners[0]]


# --- roles ---------------------------------------------------------------------------------


class ActAs:
    """Stands in for the auth layer: the `X-Test-Subject` header names a viewer principal."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            subject = dict(scope["headers"]).get(b"x-test-subject")
            # A per-request copy: the lifespan state dict is shared by every request.
            scope["state"] = dict(scope.get("state") or {})
            if subject:
                scope["state"]["principal"] = Principal(subject.decode(), "viewer", kind="token")
        await self.app(scope, receive, send)


async def viewer_client(make_settings: Callable[..., Settings], open_client: Opener) -> AsyncClient:
    app = create_app(make_settings(anonymous_role="viewer"))
    app.add_middleware(ActAs)
    return await open_client(app)


@pytest.mark.parametrize("action", ["approve", "reject", "revoke"])
async def test_decisions_need_a_steward(
    client: AsyncClient,
    make_settings: Callable[..., Settings],
    open_client: Opener,
    action: str,
) -> None:
    viewer = await viewer_client(make_settings, open_client)
    product = await create_product(client)
    request = await request_access(viewer, product["id"])
    if action == "revoke":
        ok(await move(client, request["id"], "approve"))
    error = error_of(await move(viewer, request["id"], action), 403)
    assert "steward" in error["details"]
    expected = "approved" if action == "revoke" else "pending"
    assert ok(await viewer.get(f"{REQUESTS}/{request['id']}"))["status"] == expected


async def test_a_viewer_can_request_read_and_cancel_their_own(
    client: AsyncClient, make_settings: Callable[..., Settings], open_client: Opener
) -> None:
    viewer = await viewer_client(make_settings, open_client)
    product = await create_product(client)
    request = await request_access(viewer, product["id"])
    assert request["requester"] == "anonymous"
    assert ok(await viewer.get(REQUESTS))["total"] == 1
    assert ok(await viewer.get(f"{REQUESTS}/{request['id']}"))["id"] == request["id"]
    assert ok(await move(viewer, request["id"], "cancel"))["status"] == "cancelled"


async def test_only_the_requester_or_a_steward_may_cancel(
    client: AsyncClient, make_settings: Callable[..., Settings], open_client: Opener
) -> None:
    viewer = await viewer_client(make_settings, open_client)
    product = await create_product(client)
    alice = {"X-Test-Subject": "alice"}
    mallory = {"X-Test-Subject": "mallory"}
    body = {"product_id": product["id"], "reason": "alice's work"}
    first = ok(await viewer.post(REQUESTS, json=body, headers=alice), 201)
    assert first["requester"] == "alice"
    error = error_of(await viewer.post(f"{REQUESTS}/{first['id']}/cancel", headers=mallory), 403)
    assert "alice" in error["details"]
    assert ok(await client.get(f"{REQUESTS}/{first['id']}"))["status"] == "pending"
    cancelled = ok(await viewer.post(f"{REQUESTS}/{first['id']}/cancel", headers=alice))
    assert cancelled["status"] == "cancelled"
    # A steward (the default anonymous admin here) may cancel anyone's pending request.
    second = ok(await viewer.post(REQUESTS, json=body, headers=alice), 201)
    assert ok(await move(client, second["id"], "cancel"))["status"] == "cancelled"
    # Mallory's own request for the same product is hers, not a duplicate of Alice's.
    ok(await viewer.post(REQUESTS, json=body, headers=mallory), 201)
