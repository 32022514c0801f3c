"""Subscriptions through the HTTP API: validation and the SSRF guard, on both databases."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient

from catalog.app import create_app
from catalog.settings import Settings
from tests.support.api import create_product, error_of, ok

OpenClient = Callable[[FastAPI], Awaitable[AsyncClient]]

INTERNAL = [
    "http://127.0.0.1/",
    "http://localhost/",
    "http://10.1.2.3/",
    "http://192.168.0.1/",
    "http://169.254.169.254/latest/meta-data",
    "http://[::1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://0.0.0.0/",
]


@pytest.mark.parametrize("url", INTERNAL)
async def test_an_internal_url_is_refused_without_the_allow_list(
    make_settings: Callable[..., Settings], open_client: OpenClient, url: str
) -> None:
    client = await open_client(create_app(make_settings()))
    error = error_of(await client.post("/api/subscriptions", json={"url": url}), 422)
    assert "CATALOG_NOTIFY_ALLOWED_HOSTS" in str(error), error


@pytest.mark.parametrize(
    ("allowed", "url"),
    [(("127.0.0.1",), "http://127.0.0.1:9/hook"), (("10.0.0.0/8",), "http://10.1.2.3/hook")],
)
async def test_the_allow_list_admits_a_host_or_a_network(
    make_settings: Callable[..., Settings],
    open_client: OpenClient,
    allowed: tuple[str, ...],
    url: str,
) -> None:
    client = await open_client(create_app(make_settings(notify_allowed_hosts=allowed)))
    created = ok(await client.post("/api/subscriptions", json={"url": url}), 201)
    assert created["url"] == url


async def test_invalid_subscriptions_are_422(
    make_settings: Callable[..., Settings], open_client: OpenClient
) -> None:
    client = await open_client(create_app(make_settings(notify_allowed_hosts=("127.0.0.1",))))
    product = await create_product(client)
    hook = "http://127.0.0.1:9/hook"
    bodies: list[dict[str, Any]] = [
        {"url": hook, "product_id": product["id"], "team": "finance"},
        {"channel": "webhook"},
        {"channel": "email"},
        {"channel": "slack", "url": hook, "secret": "s3cret-s3cret-s3cret"},
        {"url": hook, "event_types": ["no.such_event"]},
        {"url": hook, "product_id": "00000000-0000-0000-0000-000000000000"},
        {"url": hook, "tag": "no-such-tag-anywhere"},
        {"url": "ftp://127.0.0.1/hook"},
        {"url": "http://user:pass@127.0.0.1:9/hook"},
        {"channel": "email", "email": "someone@example.com"},
    ]
    for body in bodies:
        error_of(await client.post("/api/subscriptions", json=body), 422)


async def test_the_secret_is_generated_and_only_shown_once(
    make_settings: Callable[..., Settings], open_client: OpenClient
) -> None:
    client = await open_client(create_app(make_settings(notify_allowed_hosts=("127.0.0.1",))))
    created = ok(
        await client.post("/api/subscriptions", json={"url": "http://127.0.0.1:9/hook"}), 201
    )
    assert len(created["secret"]) >= 16
    shown = ok(await client.get(f"/api/subscriptions/{created['id']}"))
    assert "secret" not in shown
    listed = ok(await client.get("/api/subscriptions"))
    assert all("secret" not in item for item in listed["items"])
    ok(await client.delete(f"/api/subscriptions/{created['id']}"), 204)
    error_of(await client.get(f"/api/subscriptions/{created['id']}"), 404)
