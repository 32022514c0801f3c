"""Subscriptions end to end: a write commits, its event reaches a real webhook, signed."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from fastapi import FastAPI
from httpx import AsyncClient

from catalog.app import create_app
from catalog.core.time import isoformat_z
from catalog.notify.signing import verify
from catalog.settings import Settings
from tests.notify.test_reliability import service
from tests.support.api import create_product, ok
from tests.support.clock import ManualClock
from tests.support.receiver import Receiver
from tests.support.wait import until

ALLOW_LOCAL = {"notify_allowed_hosts": ("127.0.0.1",), "notify_interval_s": 0.05}


async def delivered(receiver: Receiver, count: int = 1) -> list[dict[str, Any]]:
    async def enough() -> list[dict[str, Any]] | None:
        return receiver.bodies if len(receiver.bodies) >= count else None

    return await until(enough, lambda: f"{count} deliveries (got {receiver.bodies})")


async def test_a_steward_hears_of_an_access_request_signed(
    make_settings: Callable[..., Settings],
    open_client: Callable[[FastAPI], Awaitable[AsyncClient]],
    receiver: Receiver,
) -> None:
    client = await open_client(create_app(make_settings(**ALLOW_LOCAL)))
    product = await create_product(client)
    secret = "s3cret-s3cret-s3cret"
    subscription = ok(
        await client.post(
            "/api/subscriptions",
            json={"product_id": product["id"], "url": receiver.url, "secret": secret},
        ),
        201,
    )
    assert subscription["secret"] == secret
    request = ok(
        await client.post(
            "/api/access-requests", json={"product_id": product["id"], "reason": "reporting"}
        ),
        201,
    )
    [body] = await delivered(receiver)
    assert body["type"] == "access_request.created"
    assert body["subject"] == {
        "kind": "access_request",
        "id": request["id"],
        "product_id": product["id"],
        "product_name": product["name"],
    }
    assert body["payload"]["reason"] == "reporting"
    [received] = receiver.received
    assert received.headers["x-catalog-event-id"] == body["id"]
    assert json.loads(received.raw) == body
    assert verify(secret, received.headers["x-catalog-signature"], received.raw, time.time())
    signed = received.headers["x-catalog-signature"]
    assert not verify("another-secret-000", signed, received.raw, time.time())
    assert not verify(secret, signed, received.raw, time.time() + 301)  # too old
    assert await settled(client, subscription["id"]) == [(body["id"], "delivered", 1)]


async def settled(client: AsyncClient, subscription_id: str) -> list[tuple[str, str, int]]:
    """(event id, status, attempts) of the subscription's deliveries once none is in flight
    (the receiver has a body a moment before the worker records its answer)."""

    async def looked() -> list[tuple[str, str, int]] | None:
        page = ok(await client.get(f"/api/subscriptions/{subscription_id}/deliveries"))
        found = [(d["event_id"], d["status"], d["attempts"]) for d in page["items"]]
        return found if all(status != "pending" for _, status, _ in found) else None

    return await until(looked, "every delivery settled")


async def test_a_grant_about_to_expire_is_announced_once(
    make_settings: Callable[..., Settings], receiver: Receiver
) -> None:
    clock = ManualClock()
    async with service(make_settings(**ALLOW_LOCAL), clock) as (client, dispatcher):
        product = await create_product(client)
        body = {
            "product_id": product["id"],
            "url": receiver.url,
            "event_types": ["access_request.expiring"],
        }
        subscription = ok(await client.post("/api/subscriptions", json=body), 201)
        ends = clock.now() + timedelta(days=9)
        asked = {"product_id": product["id"], "reason": "audit", "expires_at": ends.isoformat()}
        request = ok(await client.post("/api/access-requests", json=asked), 201)
        ok(await client.post(f"/api/access-requests/{request['id']}/approve"))
        await dispatcher.housekeep()  # 9 days ahead: not yet (CATALOG_NOTIFY_EXPIRING_DAYS=7)
        await dispatcher.fan_out()
        listed = f"/api/subscriptions/{subscription['id']}/deliveries"
        assert ok(await client.get(listed))["items"] == []
        # 6 days left (less than the events' retention, 7 days, or the prune would take them)
        clock.advance(timedelta(days=3).total_seconds())
        await dispatcher.housekeep()
        [announced] = await delivered(receiver)
        assert announced["type"] == "access_request.expiring"
        assert announced["subject"]["id"] == request["id"]
        assert announced["payload"]["expires_at"] == isoformat_z(ends)
        await dispatcher.housekeep()  # once per grant
        await dispatcher.fan_out()
        assert len(await settled(client, subscription["id"])) == 1


async def test_events_are_kept_for_the_retention_then_pruned_with_their_deliveries(
    make_settings: Callable[..., Settings], receiver: Receiver
) -> None:
    clock = ManualClock()
    settings = make_settings(**ALLOW_LOCAL, notify_retention_s=3600)
    async with service(settings, clock) as (client, dispatcher):
        product = await create_product(client)
        body = {"product_id": product["id"], "url": receiver.url}
        subscription = ok(await client.post("/api/subscriptions", json=body), 201)
        request = {"product_id": product["id"], "reason": "reporting"}
        ok(await client.post("/api/access-requests", json=request), 201)
        [event] = await delivered(receiver)
        assert await settled(client, subscription["id"]) == [(event["id"], "delivered", 1)]
        clock.advance(1800)
        await dispatcher.housekeep()  # within the retention: kept (replay can reach it)
        assert len(await settled(client, subscription["id"])) == 1
        clock.advance(3600)
        await dispatcher.housekeep()
        listed = f"/api/subscriptions/{subscription['id']}/deliveries"
        assert ok(await client.get(listed))["items"] == []
