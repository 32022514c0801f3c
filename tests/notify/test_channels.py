"""Slack and email subscriptions deliver what they promise, and a webhook whose address
stops being allowed is refused at delivery too (the SSRF guard's second check), on both
databases through the HTTP API."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from email import message_from_bytes
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient

from catalog.app import create_app
from catalog.changes.events import EVENT_TYPES
from catalog.notify.channels import summary
from catalog.settings import Settings
from tests.support.api import create_product, ok
from tests.support.receiver import Receiver
from tests.support.smtp import smtp_server
from tests.support.wait import until

OpenClient = Callable[[FastAPI], Awaitable[AsyncClient]]
ALLOW_LOCAL = {"notify_allowed_hosts": ("127.0.0.1",), "notify_interval_s": 0.05}


async def request_access(client: AsyncClient, product_id: str) -> dict[str, Any]:
    body = {"product_id": product_id, "reason": "monthly close"}
    return ok(await client.post("/api/access-requests", json=body), 201)  # type: ignore[no-any-return]


async def deliveries(client: AsyncClient, subscription_id: str) -> list[dict[str, Any]]:
    page = ok(await client.get(f"/api/subscriptions/{subscription_id}/deliveries"))
    return page["items"]  # type: ignore[no-any-return]


async def test_slack_gets_a_message_not_a_signed_event(
    make_settings: Callable[..., Settings], open_client: OpenClient, receiver: Receiver
) -> None:
    client = await open_client(create_app(make_settings(**ALLOW_LOCAL)))
    product = await create_product(client)
    body = {"product_id": product["id"], "channel": "slack", "url": receiver.url}
    created = ok(await client.post("/api/subscriptions", json=body), 201)
    assert created["secret"] is None
    request = await request_access(client, product["id"])

    async def arrived() -> bool:
        return bool(receiver.received)

    await until(arrived, "the Slack message")
    [message] = receiver.received
    payload = json.loads(message.raw)
    assert set(payload) == {"text", "blocks"}
    assert product["name"] in payload["text"]
    assert "access request" in payload["text"]
    assert "access_request.created" in payload["blocks"][0]["text"]["text"]
    assert "x-catalog-signature" not in message.headers
    assert request["requester"] in payload["text"]


async def test_email_goes_through_the_smtp_server_with_the_event_id(
    make_settings: Callable[..., Settings], open_client: OpenClient
) -> None:
    with smtp_server() as mailbox:
        settings = make_settings(
            **ALLOW_LOCAL,
            alert_smtp_host="127.0.0.1",
            alert_smtp_port=mailbox.port,
            alert_smtp_starttls=False,
        )
        client = await open_client(create_app(settings))
        product = await create_product(client)
        body = {"product_id": product["id"], "channel": "email", "email": "data@example.org"}
        subscription = ok(await client.post("/api/subscriptions", json=body), 201)
        await request_access(client, product["id"])

        async def sent() -> list[dict[str, Any]] | None:
            rows = await deliveries(client, subscription["id"])
            return rows if rows and rows[0]["status"] == "delivered" else None

        [delivery] = await until(sent, "the email delivered")
        [envelope] = mailbox.envelopes
        assert envelope.rcpt_tos == ["data@example.org"]
        message = message_from_bytes(envelope.content)
        assert message["X-Catalog-Event-Id"] == delivery["event_id"]
        assert product["name"] in message["Subject"]
        assert "access_request.created" in message.get_payload()


async def test_a_webhook_no_longer_allowed_is_refused_at_delivery(
    database_url: str,
    make_settings: Callable[..., Settings],
    open_client: OpenClient,
    receiver: Receiver,
) -> None:
    # Subscribed while the address was allowed (its worker idle: it is not the one sending)...
    allowing = await open_client(
        create_app(make_settings(notify_allowed_hosts=("127.0.0.1",), notify_interval_s=3600))
    )
    product = await create_product(allowing)
    body = {"product_id": product["id"], "url": receiver.url}
    subscription = ok(await allowing.post("/api/subscriptions", json=body), 201)
    # ... then delivered by a process whose allow-list no longer names it (or whose DNS now
    # answers a private address: the same check, made again before connecting).
    strict = await open_client(create_app(make_settings(notify_interval_s=0.05)))
    await request_access(strict, product["id"])

    async def dead() -> list[dict[str, Any]] | None:
        rows = await deliveries(strict, subscription["id"])
        return rows if rows and rows[0]["status"] == "dead" else None

    [delivery] = await until(dead, "the delivery dead-lettered")
    assert "CATALOG_NOTIFY_ALLOWED_HOSTS" in delivery["last_error"]
    assert receiver.received == []


SAMPLE_PAYLOADS: dict[str, dict[str, Any]] = {
    "product.version_published": {"version": "2.0.0", "breaking": True},
    "product.deprecated": {"version": None, "reason": "its table is gone from the source"},
    "product.schema_changed": {"version": "1.1.0"},
    "product.quality_dropped": {"element_name": "customer_id", "score": 0.6},
    "access_request.created": {"requester": "ana"},
    "access_request.decided": {"requester": "ana"},
    "access_request.expiring": {"requester": "ana"},
    "regulatory_schema.version_added": {"version": "1.1"},
}


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_every_event_type_reads_as_a_sentence_in_slack_and_email(event_type: str) -> None:
    body = {
        "type": event_type,
        "subject": {"id": "01x", "name": "orders"},
        "payload": SAMPLE_PAYLOADS[event_type],
    }
    line = summary(body)
    assert line.startswith("orders: ")
    assert "None" not in line
    assert event_type not in line  # not the fallback: each type has its own words
