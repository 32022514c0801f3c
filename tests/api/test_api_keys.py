"""API keys: the credential format, the checker the auth middleware calls, and the admin API.

Every test with a database runs on SQLite and on PostgreSQL. The checker is called the way the
middleware calls it: with a write session of the service's own engine, committed afterwards.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient

from catalog.api.apikeys import router as admin_router
from catalog.apikeys import verify
from catalog.apikeys.keys import BASE62, KEY_PREFIX, generate_key, hash_key, looks_like_key
from catalog.apikeys.verify import authenticate_api_key
from catalog.app import create_app, domain_routers
from catalog.db.engine import WRITE, create_engine, session_factory
from catalog.identity.credentials import (
    EXPIRED,
    MALFORMED,
    REVOKED,
    UNKNOWN_TOKEN,
    InvalidCredentials,
)
from catalog.identity.principal import Principal
from catalog.settings import Settings
from tests.support.api import error_of, ok, unique
from tests.support.db import execute, query

KEYS = "/api/admin/api-keys"
MISSING = "00000000-0000-0000-0000-000000000000"
Opener = Callable[[FastAPI], Awaitable[AsyncClient]]
Authenticate = Callable[[str], Awaitable[Principal]]


def app_with_admin_routes(settings: Settings) -> FastAPI:
    """The app, with the admin router added unless app.py already registers it."""
    app = create_app(settings)
    if not any(router is admin_router for router in domain_routers()):
        app.include_router(admin_router)
    return app


@pytest.fixture
async def admin(make_settings: Callable[..., Settings], open_client: Opener) -> AsyncClient:
    return await open_client(app_with_admin_routes(make_settings()))


@pytest.fixture
async def authenticate(make_settings: Callable[..., Settings]) -> AsyncIterator[Authenticate]:
    """`authenticate_api_key` in a write session of its own, committed, as the middleware does."""
    engine = create_engine(make_settings())
    sessions = session_factory(engine.execution_options(**WRITE))

    async def check(token: str) -> Principal:
        async with sessions() as session, session.begin():
            return await authenticate_api_key(session, token)

    yield check
    await engine.dispose()


def in_future(**delta: float) -> str:
    return (datetime.now(UTC) + timedelta(**delta)).isoformat()


async def create_key(client: AsyncClient, **fields: Any) -> dict[str, Any]:
    body = {"name": unique("key"), "role": "viewer"} | fields
    return ok(await client.post(KEYS, json=body), 201)  # type: ignore[no-any-return]


async def refusal(check: Authenticate, token: str) -> InvalidCredentials:
    with pytest.raises(InvalidCredentials) as caught:
        await check(token)
    assert token not in caught.value.description
    return caught.value


def stored_time(database_url: str, moment: datetime) -> Any:
    """A UTC time as a raw statement must bind it (SQLite keeps naive UTC text)."""
    if database_url.startswith("sqlite"):
        return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    return moment


def as_time(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


async def last_used(database_url: str, key_id: str) -> datetime | None:
    rows = await query(database_url, "SELECT last_used_at FROM api_keys WHERE id = :id", id=key_id)
    return as_time(rows[0][0])


async def set_last_used(database_url: str, key_id: str, moment: datetime) -> None:
    await execute(
        database_url,
        "UPDATE api_keys SET last_used_at = :at WHERE id = :id",
        at=stored_time(database_url, moment),
        id=key_id,
    )


# --- the format (no database) ----------------------------------------------------------------


def test_generated_keys_have_the_scannable_format() -> None:
    keys = [generate_key() for _ in range(200)]
    assert len({key for key, _, _ in keys}) == len(keys)
    for key, prefix, key_hash in keys:
        assert key.startswith(KEY_PREFIX)
        assert len(key) == len(KEY_PREFIX) + 32 + 6
        assert set(key[len(KEY_PREFIX) :]) <= set(BASE62)
        assert prefix == key[:12]
        assert key_hash == hashlib.sha256(key.encode()).hexdigest() == hash_key(key)
        assert looks_like_key(key)


def test_any_one_character_change_breaks_the_checksum() -> None:
    key, _, _ = generate_key()
    for position in range(len(KEY_PREFIX), len(key)):
        for replacement in {"0", "z", "Q"} - {key[position]}:
            changed = key[:position] + replacement + key[position + 1 :]
            assert not looks_like_key(changed), (position, replacement)


def test_look_alikes_are_refused_without_io() -> None:
    key, _, _ = generate_key()
    body = key[len(KEY_PREFIX) :]
    for token in (
        "ghp_" + body,  # another vendor's prefix
        "catk-" + body,
        "CATK_" + body,
        key[:-1],  # one short
        key + "0",  # one long
        KEY_PREFIX,
        "",
        key[:20] + "-" + key[21:],  # not base62
        key[:20] + "é" + key[21:],
        " " + key[1:],
        "test-token",
        "a.b.c",
    ):
        assert not looks_like_key(token), token


async def test_malformed_tokens_never_reach_the_database() -> None:
    class NoSession:
        def __getattr__(self, name: str) -> Any:
            raise AssertionError(f"the checker touched the session ({name})")

    key, _, _ = generate_key()
    for token in (key[:-1], key[:-1] + ("1" if key[-1] == "0" else "0"), "garbage"):
        with pytest.raises(InvalidCredentials) as caught:
            await authenticate_api_key(NoSession(), token)  # type: ignore[arg-type]
        assert caught.value.reason == MALFORMED


# --- creation: the key is shown once ----------------------------------------------------------


async def test_create_shows_the_key_once_and_stores_only_its_hash(
    admin: AsyncClient, database_url: str
) -> None:
    expires = in_future(days=30)
    created = await create_key(
        admin, name="ci-pipeline", role="editor", team="finance", scopes=["read", "write"],
        expires_at=expires,
    )  # fmt: skip
    key = created.pop("key")
    assert looks_like_key(key)
    assert created.pop("id")
    assert datetime.fromisoformat(created.pop("created_at"))
    assert datetime.fromisoformat(created.pop("expires_at")) == datetime.fromisoformat(expires)
    assert created == {
        "prefix": key[:12],
        "name": "ci-pipeline",
        "role": "editor",
        "team": "finance",
        "scopes": ["read", "write"],
        "created_by": "anonymous",
    }

    listed = await admin.get(KEYS)
    one = await admin.get(f"{KEYS}/{ok(listed)['items'][0]['id']}")
    key_hash = hash_key(key)
    for response in (listed, one):
        assert key not in response.text
        assert key_hash not in response.text
        assert key[12:] not in response.text  # not even the part after the display prefix
    item = ok(one)
    assert ok(listed)["items"] == [item]
    assert set(item) == {
        "id", "name", "prefix", "role", "team", "scopes", "created_by", "created_at",
        "expires_at", "revoked_at", "last_used_at", "status",
    }  # fmt: skip
    assert item["status"] == "active"
    assert item["prefix"] == key[:12]
    assert item["revoked_at"] is None
    assert item["last_used_at"] is None

    rows = await query(database_url, "SELECT * FROM api_keys")
    assert len(rows) == 1
    row = rows[0]._mapping
    assert row["key_hash"] == key_hash
    assert all(key not in str(value) for value in row.values())


async def test_audit_events_never_hold_the_key_or_its_hash(
    admin: AsyncClient, database_url: str
) -> None:
    created = await create_key(admin)
    ok(await admin.delete(f"{KEYS}/{created['id']}"), 204)
    events = await query(
        database_url,
        "SELECT action, resource_type, actor, before, after, details FROM audit_events "
        "WHERE resource_id = :id ORDER BY timestamp",
        id=created["id"],
    )
    assert [(e.action, e.resource_type, e.actor) for e in events] == [
        ("create", "api_key", "anonymous"),
        ("revoke", "api_key", "anonymous"),
    ]
    text = " ".join(str(value) for event in events for value in event)
    assert created["key"] not in text
    assert hash_key(created["key"]) not in text
    assert "key_hash" not in text
    assert created["name"] in text  # the events do describe the key


# --- the checker --------------------------------------------------------------------------------


async def test_a_key_authenticates_as_its_principal(
    admin: AsyncClient, authenticate: Authenticate, database_url: str
) -> None:
    created = await create_key(admin, name="etl", role="steward", team="risk")
    principal = await authenticate(created["key"])
    assert principal == Principal(
        subject="api-key:etl", role="steward", team="risk", kind="api_key"
    )
    teamless = await create_key(admin, role="viewer")
    assert (await authenticate(teamless["key"])).team is None
    assert (await authenticate(teamless["key"])).role == "viewer"


async def test_unknown_and_malformed_keys_are_refused(
    admin: AsyncClient, authenticate: Authenticate
) -> None:
    await create_key(admin)
    never_stored, _, _ = generate_key()
    assert (await refusal(authenticate, never_stored)).reason == UNKNOWN_TOKEN
    assert (await refusal(authenticate, "catk_garbage")).reason == MALFORMED
    assert (await refusal(authenticate, "x" * 10_000)).reason == MALFORMED


async def test_a_revoked_key_is_refused_at_once(
    admin: AsyncClient, authenticate: Authenticate
) -> None:
    created = await create_key(admin)
    assert await authenticate(created["key"])
    ok(await admin.delete(f"{KEYS}/{created['id']}"), 204)
    assert (await refusal(authenticate, created["key"])).reason == REVOKED
    shown = ok(await admin.get(f"{KEYS}/{created['id']}"))
    assert shown["status"] == "revoked"
    assert datetime.fromisoformat(shown["revoked_at"]) <= datetime.now(UTC)
    again = error_of(await admin.delete(f"{KEYS}/{created['id']}"), 409)
    assert "already revoked" in again["details"]
    assert ok(await admin.get(f"{KEYS}/{created['id']}"))["revoked_at"] == shown["revoked_at"]


async def test_an_expired_key_is_refused(
    admin: AsyncClient, authenticate: Authenticate, database_url: str
) -> None:
    created = await create_key(admin, expires_at=in_future(minutes=10))
    assert await authenticate(created["key"])
    await execute(
        database_url, "UPDATE api_keys SET expires_at = created_at WHERE id = :id", id=created["id"]
    )
    assert (await refusal(authenticate, created["key"])).reason == EXPIRED
    assert ok(await admin.get(f"{KEYS}/{created['id']}"))["status"] == "expired"


async def test_last_used_at_is_written_at_most_once_per_five_minutes(
    admin: AsyncClient, authenticate: Authenticate, database_url: str
) -> None:
    created = await create_key(admin)
    key_id = created["id"]
    assert await last_used(database_url, key_id) is None

    before = datetime.now(UTC)
    await authenticate(created["key"])
    first = await last_used(database_url, key_id)
    assert first is not None
    assert before <= first <= datetime.now(UTC)
    assert datetime.fromisoformat(ok(await admin.get(f"{KEYS}/{key_id}"))["last_used_at"]) == first

    await authenticate(created["key"])
    assert await last_used(database_url, key_id) == first  # within 5 minutes: no write

    recent = datetime.now(UTC) - timedelta(minutes=4)
    await set_last_used(database_url, key_id, recent)
    await authenticate(created["key"])
    assert await last_used(database_url, key_id) == recent

    stale = datetime.now(UTC) - timedelta(minutes=6)
    await set_last_used(database_url, key_id, stale)
    await authenticate(created["key"])
    refreshed = await last_used(database_url, key_id)
    assert refreshed is not None
    assert refreshed > stale + timedelta(minutes=5)


async def test_the_refresh_of_last_used_at_is_one_conditional_update(
    admin: AsyncClient, authenticate: Authenticate, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request within the window issues no UPDATE at all; a stale one issues exactly one."""
    created = await create_key(admin)
    touches: list[str] = []
    real_touch = verify.touch_last_used

    async def counting_touch(*args: Any) -> None:
        touches.append("touch")
        await real_touch(*args)

    monkeypatch.setattr(verify, "touch_last_used", counting_touch)
    await authenticate(created["key"])
    await authenticate(created["key"])
    await authenticate(created["key"])
    assert touches == ["touch"]


async def test_concurrent_uses_of_one_key_all_pass(
    admin: AsyncClient, authenticate: Authenticate, database_url: str
) -> None:
    created = await create_key(admin, role="editor")
    principals = await asyncio.gather(*(authenticate(created["key"]) for _ in range(20)))
    assert {p.subject for p in principals} == {f"api-key:{created['name']}"}
    assert await last_used(database_url, created["id"]) is not None


# --- the admin API ------------------------------------------------------------------------------


async def test_list_filters_by_status_and_pages(admin: AsyncClient, database_url: str) -> None:
    active = await create_key(admin, name="active-one")
    revoked = await create_key(admin, name="revoked-one")
    expired = await create_key(admin, name="expired-one", expires_at=in_future(hours=1))
    ok(await admin.delete(f"{KEYS}/{revoked['id']}"), 204)
    await execute(
        database_url, "UPDATE api_keys SET expires_at = created_at WHERE id = :id", id=expired["id"]
    )

    async def names(**params: Any) -> list[str]:
        return [item["name"] for item in ok(await admin.get(KEYS, params=params))["items"]]

    assert await names() == ["expired-one", "revoked-one", "active-one"]  # newest first
    assert await names(status="active") == ["active-one"]
    assert await names(status="revoked") == ["revoked-one"]
    assert await names(status="expired") == ["expired-one"]
    page = ok(await admin.get(KEYS, params={"limit": 1, "offset": 1}))
    assert (page["total"], page["limit"], page["offset"]) == (3, 1, 1)
    assert [item["name"] for item in page["items"]] == ["revoked-one"]
    projected = ok(await admin.get(KEYS, params={"fields": "name,status", "status": "active"}))
    assert projected["items"] == [{"name": "active-one", "status": "active"}]
    assert active["id"]


async def test_an_active_name_is_taken_but_a_revoked_or_expired_one_is_free(
    admin: AsyncClient, database_url: str
) -> None:
    first = await create_key(admin, name="deploy")
    conflict = error_of(await admin.post(KEYS, json={"name": "deploy", "role": "admin"}), 409)
    assert "deploy" in conflict["details"]
    ok(await admin.delete(f"{KEYS}/{first['id']}"), 204)
    second = await create_key(admin, name="deploy")
    await execute(
        database_url, "UPDATE api_keys SET expires_at = created_at WHERE id = :id", id=second["id"]
    )
    third = await create_key(admin, name="deploy")
    assert len({first["id"], second["id"], third["id"]}) == 3
    assert ok(await admin.get(KEYS, params={"status": "active"}))["total"] == 1


async def test_concurrent_creations_of_one_name_make_one_key(admin: AsyncClient) -> None:
    responses = await asyncio.gather(
        *(admin.post(KEYS, json={"name": "raced", "role": "viewer"}) for _ in range(10))
    )
    assert sorted(r.status_code for r in responses) == [201] + [409] * 9
    assert ok(await admin.get(KEYS))["total"] == 1


async def test_concurrent_revocations_succeed_once(admin: AsyncClient) -> None:
    created = await create_key(admin)
    responses = await asyncio.gather(*(admin.delete(f"{KEYS}/{created['id']}") for _ in range(8)))
    assert sorted(r.status_code for r in responses) == [204] + [409] * 7


async def test_scopes_are_kept_distinct_and_in_order(admin: AsyncClient) -> None:
    created = await create_key(admin, scopes=["b", "a", "b", " c "])
    assert created["scopes"] == ["b", "a", "c"]
    fifty = await create_key(admin, scopes=[f"scope-{i}" for i in range(50)])
    assert len(ok(await admin.get(f"{KEYS}/{fifty['id']}"))["scopes"]) == 50
    assert (await create_key(admin))["scopes"] == []


@pytest.mark.parametrize(
    "body",
    [
        {"name": "x", "role": "superuser"},
        {"name": "x", "role": "Admin"},
        {"name": "x"},
        {"role": "viewer"},
        {"name": "", "role": "viewer"},
        {"name": "   ", "role": "viewer"},
        {"name": "x" * 201, "role": "viewer"},
        {"name": "bell\x07", "role": "viewer"},
        {"name": "x", "role": "viewer", "expires_at": "2099-01-01T00:00:00"},
        {"name": "x", "role": "viewer", "expires_at": "2020-01-01T00:00:00Z"},
        {"name": "x", "role": "viewer", "expires_at": "soon"},
        {"name": "x", "role": "viewer", "scopes": [f"s{i}" for i in range(51)]},
        {"name": "x", "role": "viewer", "scopes": ["ok", ""]},
        {"name": "x", "role": "viewer", "scopes": ["x" * 201]},
        {"name": "x", "role": "viewer", "scopes": [1]},
        {"name": "x", "role": "viewer", "scopes": "read"},
        {"name": "x", "role": "viewer", "team": ""},
        {"name": "x", "role": "viewer", "key": "catk_chosen"},
        {"name": "x", "role": "viewer", "key_hash": "0" * 64},
    ],
)
async def test_invalid_creations_are_422(admin: AsyncClient, body: dict[str, Any]) -> None:
    error = error_of(await admin.post(KEYS, json=body), 422)
    assert error["errors"]
    assert ok(await admin.get(KEYS))["total"] == 0


async def test_invalid_list_parameters_are_422(admin: AsyncClient) -> None:
    error_of(await admin.get(KEYS, params={"status": "deleted"}), 422)
    error_of(await admin.get(KEYS, params={"limit": 0}), 422)
    error_of(await admin.get(KEYS, params={"fields": "key_hash"}), 422)
    error_of(await admin.get(KEYS, params={"fields": "key"}), 422)


async def test_unknown_keys_are_404(admin: AsyncClient) -> None:
    assert MISSING in error_of(await admin.get(f"{KEYS}/{MISSING}"), 404)["details"]
    error_of(await admin.delete(f"{KEYS}/{MISSING}"), 404)
    error_of(await admin.get(f"{KEYS}/not-an-id"), 404)


@pytest.mark.parametrize("role", ["viewer", "editor", "steward"])
async def test_every_admin_route_needs_the_admin_role(
    role: str,
    admin: AsyncClient,
    make_settings: Callable[..., Settings],
    open_client: Opener,
) -> None:
    created = await create_key(admin)
    other = await open_client(app_with_admin_routes(make_settings(anonymous_role=role)))
    for response in (
        await other.post(KEYS, json={"name": "mine", "role": "admin"}),
        await other.get(KEYS),
        await other.get(f"{KEYS}/{created['id']}"),
        await other.get(f"{KEYS}/{MISSING}"),
        await other.delete(f"{KEYS}/{created['id']}"),
    ):
        error = error_of(response, 403)
        assert "admin" in error["details"]
        assert created["key"] not in response.text
    assert ok(await admin.get(KEYS))["total"] == 1
    assert ok(await admin.get(f"{KEYS}/{created['id']}"))["status"] == "active"


async def test_api_key_requests_do_not_queue_for_the_sqlite_write_lock(
    sqlite_url: str, open_client: Opener, tmp_path: Any
) -> None:
    """Checking a key only reads; the write lock is taken only when `last_used_at` is due."""
    import sqlite3
    import time

    from tests.conftest import base_settings
    from tests.test_auth import TOKENS, bearer, write_tokens

    tokens = write_tokens(tmp_path / "tokens", TOKENS)
    settings = base_settings(sqlite_url, enable_auth=True, auth_tokens_file=tokens)
    client = await open_client(create_app(settings))
    made = ok(
        await client.post(KEYS, json={"name": "reader", "role": "viewer"}, headers=bearer("admin")),
        201,
    )
    headers = {"authorization": f"Bearer {made['key']}"}
    ok(await client.get("/api/data-products", headers=headers))  # first use: last_used_at written

    holder = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another writer holds the lock (busy timeout: 5 s)
    try:
        started = time.monotonic()
        ok(await client.get("/api/data-products", headers=headers))
        assert time.monotonic() - started < 4  # waiting for the lock would take the 5 s
    finally:
        holder.execute("ROLLBACK")
        holder.close()
