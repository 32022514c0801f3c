"""Idempotency-Key on POST, through HTTP on SQLite and PostgreSQL.

A retry with the same key gets the first answer back without running again; the same key for
another request is 422; a duplicate while the first still runs is 409; a transient failure
frees the key; keys expire and belong to one principal.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse
from httpx import ASGITransport, AsyncClient, Response
from sqlalchemy import make_url

from catalog.app import create_app
from catalog.server.resources import Resources
from catalog.settings import Settings
from tests.conftest import base_settings, search_index_built
from tests.support.api import create_product, error_of, ok, unique
from tests.support.clock import ManualClock
from tests.support.db import execute, query
from tests.support.lifespan import resources_of as lifespan_resources
from tests.support.lifespan import started
from tests.support.session_faults import failing_request_commits
from tests.support.tcp_proxy import TcpProxy
from tests.support.wait import until

Opener = Callable[..., Awaitable[AsyncClient]]
KEY = "idempotency-key"
REPLAYED = "idempotent-replayed"


def product_body(**fields: Any) -> dict[str, Any]:
    return {
        "name": unique("idem-product"),
        "description": "A data product",
        "team": "finance",
        "category": "reporting",
        "owner": "owner@example.com",
    } | fields


async def product_total(client: AsyncClient, headers: dict[str, str] | None = None) -> int:
    page = ok(await client.get("/api/data-products", headers=headers))
    return int(page["total"])


async def stored_keys(database_url: str) -> int:
    rows = await query(database_url, "SELECT count(*) FROM idempotency_keys")
    return int(rows[0][0])


class Probe:
    """POST routes whose behaviour a test controls: held inside the handler, or failing once."""

    def __init__(self) -> None:
        self.calls = 0
        self.entered = asyncio.Event()
        self.gate = asyncio.Event()
        self.hold_first = False

    def app(self, settings: Settings, clock: ManualClock | None = None) -> FastAPI:
        app = create_app(settings, clock=clock)
        router = APIRouter(prefix="/t/idem")

        @router.post("/held", status_code=201)
        async def held(body: dict[str, Any]) -> dict[str, Any]:
            self.calls += 1
            call = self.calls
            if call == 1 and self.hold_first:
                self.entered.set()
                await self.gate.wait()
            return {"call": call, "echo": body}

        @router.post("/crash-once", status_code=201)
        async def crash_once(body: dict[str, Any]) -> dict[str, Any]:
            self.calls += 1
            if self.calls == 1:
                raise RuntimeError("first attempt dies")
            return {"call": self.calls}

        @router.post("/unavailable-once", status_code=201, response_model=None)
        async def unavailable_once(body: dict[str, Any]) -> Any:
            self.calls += 1
            if self.calls == 1:
                return JSONResponse({"busy": True}, status_code=503)
            return {"call": self.calls}

        app.include_router(router)
        return app


@pytest.fixture
def probe() -> Probe:
    return Probe()


async def test_replay_returns_the_stored_answer_and_creates_nothing(client: AsyncClient) -> None:
    body = product_body()
    headers = {KEY: "create-product-1"}
    first = await client.post("/api/data-products", json=body, headers=headers)
    created = ok(first, 201)
    assert REPLAYED not in first.headers

    again = await client.post("/api/data-products", json=body, headers=headers)
    assert again.status_code == 201
    assert again.content == first.content
    assert again.headers[REPLAYED] == "true"
    assert again.headers["content-type"] == first.headers["content-type"]
    assert await product_total(client) == 1
    assert ok(await client.get(f"/api/data-products/{created['id']}"))["name"] == body["name"]


async def test_replay_of_a_client_error_returns_the_stored_error(client: AsyncClient) -> None:
    taken = await create_product(client)
    body = product_body(name=taken["name"])
    headers = {KEY: "duplicate-name"}
    first = error_of(await client.post("/api/data-products", json=body, headers=headers), 409)

    # Free the name: running the request again would now succeed; a replay must not run it.
    ok(await client.delete(f"/api/data-products/{taken['id']}"), 204)
    again = await client.post("/api/data-products", json=body, headers=headers)
    assert error_of(again, 409) == first  # same request_id and timestamp: the stored body
    assert again.headers[REPLAYED] == "true"
    assert await product_total(client) == 0


async def test_same_key_for_another_request_is_422(client: AsyncClient) -> None:
    headers = {KEY: "reused"}
    ok(await client.post("/api/data-products", json=product_body(), headers=headers), 201)

    other_body = await client.post("/api/data-products", json=product_body(), headers=headers)
    error = error_of(other_body, 422)
    assert "Idempotency-Key" in error["details"]
    assert REPLAYED not in other_body.headers

    other_path = await client.post("/api/tags", json={"name": unique("tag")}, headers=headers)
    assert "POST /api/data-products" in error_of(other_path, 422)["details"]
    assert await product_total(client) == 1
    assert ok(await client.get("/api/tags"))["total"] == 0


async def test_concurrent_duplicate_is_409_while_the_first_runs(
    make_settings: Callable[..., Settings], open_client: Opener, probe: Probe
) -> None:
    client = await open_client(probe.app(make_settings()))
    probe.hold_first = True
    headers = {KEY: "held"}
    first = asyncio.create_task(client.post("/t/idem/held", json={"n": 1}, headers=headers))
    await asyncio.wait_for(probe.entered.wait(), 10)

    duplicate = await client.post("/t/idem/held", json={"n": 1}, headers=headers)
    error = error_of(duplicate, 409)
    assert duplicate.headers["retry-after"] == "1"
    assert error["retry_after"] == 1

    probe.gate.set()
    assert ok(await first, 201) == {"call": 1, "echo": {"n": 1}}
    replay = await client.post("/t/idem/held", json={"n": 1}, headers=headers)
    assert ok(replay, 201) == {"call": 1, "echo": {"n": 1}}
    assert replay.headers[REPLAYED] == "true"
    assert probe.calls == 1


async def test_concurrent_burst_with_one_key_creates_one_product(client: AsyncClient) -> None:
    body = product_body()
    headers = {KEY: "burst"}
    answers = await asyncio.gather(
        *(client.post("/api/data-products", json=body, headers=headers) for _ in range(12))
    )
    statuses = [a.status_code for a in answers]
    # 503: SQLite's writer lock can outwait its busy timeout on a loaded machine (retryable).
    assert set(statuses) <= {201, 409, 503}, statuses
    assert statuses.count(503) < len(statuses) - 1, statuses
    ran = [a for a in answers if a.status_code == 201 and REPLAYED not in a.headers]
    assert len(ran) == 1
    for answer in answers:
        if answer.status_code == 201:
            assert answer.content == ran[0].content
        else:
            assert "retry-after" in answer.headers
            assert error_of(answer, answer.status_code)["retry_after"] >= 1
    assert await product_total(client) == 1


async def test_bulk_endpoint_replays(client: AsyncClient) -> None:
    items = [
        {
            "name": unique("bulk-element"),
            "definition": "A definition",
            "data_element_concept": {
                "name": unique("concept"),
                "object_class": "Customer",
                "property": "Identifier",
            },
            "representation": {"name": "text-50", "data_type": "string", "length": 50},
        }
        for _ in range(3)
    ]
    headers = {KEY: "bulk-1"}
    first = await client.post("/api/data-elements/bulk", json={"items": items}, headers=headers)
    assert ok(first)["created"] == 3
    again = await client.post("/api/data-elements/bulk", json={"items": items}, headers=headers)
    assert again.status_code == 200
    assert again.content == first.content
    assert again.headers[REPLAYED] == "true"
    assert ok(await client.get("/api/data-elements"))["total"] == 3


async def test_key_reusable_after_a_server_error(
    make_settings: Callable[..., Settings], open_client: Opener, probe: Probe, database_url: str
) -> None:
    client = await open_client(probe.app(make_settings()))
    headers = {KEY: "crash"}
    failed = await client.post("/t/idem/crash-once", json={}, headers=headers)
    error_of(failed, 500)
    assert await stored_keys(database_url) == 0

    retried = await client.post("/t/idem/crash-once", json={}, headers=headers)
    assert ok(retried, 201) == {"call": 2}
    replay = await client.post("/t/idem/crash-once", json={}, headers=headers)
    assert ok(replay, 201) == {"call": 2}
    assert replay.headers[REPLAYED] == "true"


async def test_key_reusable_after_a_503_answer(
    make_settings: Callable[..., Settings], open_client: Opener, probe: Probe
) -> None:
    client = await open_client(probe.app(make_settings()))
    headers = {KEY: "busy"}
    assert (await client.post("/t/idem/unavailable-once", json={}, headers=headers)).json() == {
        "busy": True
    }
    retried = await client.post("/t/idem/unavailable-once", json={}, headers=headers)
    assert ok(retried, 201) == {"call": 2}
    assert REPLAYED not in retried.headers
    replay = await client.post("/t/idem/unavailable-once", json={}, headers=headers)
    assert ok(replay, 201) == {"call": 2}
    assert replay.headers[REPLAYED] == "true"


async def test_expired_key_is_new(client: AsyncClient, database_url: str) -> None:
    headers = {KEY: "expiring"}
    body = product_body()
    ok(await client.post("/api/data-products", json=body, headers=headers), 201)
    replay = await client.post("/api/data-products", json=body, headers=headers)
    assert replay.headers[REPLAYED] == "true"  # within the TTL
    await execute(database_url, "UPDATE idempotency_keys SET expires_at = created_at")

    # Expired: another body under the same key is a new request, not a 422.
    second = await client.post("/api/data-products", json=product_body(), headers=headers)
    ok(second, 201)
    assert REPLAYED not in second.headers
    assert await product_total(client) == 2
    assert await stored_keys(database_url) == 1  # the expired row was replaced


async def test_expired_keys_are_pruned_in_the_background(
    make_settings: Callable[..., Settings], open_client: Opener, database_url: str
) -> None:
    client = await open_client(create_app(make_settings(idempotency_ttl_s=2)))
    ok(await client.post("/api/data-products", json=product_body(), headers={KEY: "p"}), 201)
    assert await stored_keys(database_url) == 1

    # The prune runs every min(TTL, 1 h); the key expires 2 s after its answer.
    async def pruned() -> bool:
        return await stored_keys(database_url) == 0

    await until(pruned, "the background prune of the expired key")
    assert await stored_keys(database_url) == 0


async def test_abandoned_attempt_is_taken_over_after_the_lock_timeout(
    make_settings: Callable[..., Settings], open_client: Opener, probe: Probe
) -> None:
    clock = ManualClock()
    client = await open_client(probe.app(make_settings(idempotency_lock_timeout_s=0.3), clock))
    probe.hold_first = True
    headers = {KEY: "stuck"}
    stuck = asyncio.create_task(client.post("/t/idem/held", json={"n": 1}, headers=headers))
    await asyncio.wait_for(probe.entered.wait(), 10)
    clock.advance(0.4)

    takeover = await client.post("/t/idem/held", json={"n": 1}, headers=headers)
    assert ok(takeover, 201) == {"call": 2, "echo": {"n": 1}}

    probe.gate.set()  # the first attempt ends late; it must not overwrite its successor
    assert ok(await stuck, 201)["call"] == 1
    replay = await client.post("/t/idem/held", json={"n": 1}, headers=headers)
    assert ok(replay, 201) == {"call": 2, "echo": {"n": 1}}
    assert replay.headers[REPLAYED] == "true"


@pytest.mark.parametrize(
    "value",
    [b"", b"   ", b"k" * 256, "clé".encode(), b"tab\there", b'""'],
    ids=["empty", "blank", "too-long", "non-ascii", "control", "empty-quoted"],
)
async def test_malformed_key_is_422(client: AsyncClient, value: bytes) -> None:
    answer = await client.post(
        "/api/data-products", json=product_body(), headers=[(KEY.encode(), value)]
    )
    assert "printable ASCII" in error_of(answer, 422)["details"]
    assert await product_total(client) == 0


async def test_two_key_headers_are_422(client: AsyncClient) -> None:
    answer = await client.post(
        "/api/data-products", json=product_body(), headers=[(b"idempotency-key", b"a")] * 2
    )
    assert "exactly one" in error_of(answer, 422)["details"]


async def test_longest_and_quoted_keys_are_accepted(client: AsyncClient) -> None:
    longest = "k" * 255
    body = product_body()
    ok(await client.post("/api/data-products", json=body, headers={KEY: longest}), 201)
    again = await client.post("/api/data-products", json=body, headers={KEY: f'"{longest}"'})
    assert again.headers[REPLAYED] == "true"  # the draft's sf-string form names the same key


async def test_requests_without_the_header_are_unaffected(
    client: AsyncClient, database_url: str
) -> None:
    body = product_body()
    ok(await client.post("/api/data-products", json=body), 201)
    duplicate = await client.post("/api/data-products", json=body)
    error_of(duplicate, 409)  # ran again: no replay without a key
    assert REPLAYED not in duplicate.headers
    # Only POST is keyed: a GET with the header is served as usual.
    listed = await client.get("/api/data-products", headers={KEY: "a-get"})
    assert ok(listed)["total"] == 1
    assert await stored_keys(database_url) == 0


async def test_chunked_body_over_the_limit_is_413_not_500(
    make_settings: Callable[..., Settings], open_client: Opener
) -> None:
    client = await open_client(create_app(make_settings(max_body_bytes=1024)))

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"name": "'
        for _ in range(4):
            yield b"x" * 512
        yield b'"}'

    answer = await client.post(
        "/api/data-products",
        content=chunks(),
        headers={KEY: "too-big", "content-type": "application/json"},
    )
    error_of(answer, 413)


# --- keys per principal ----------------------------------------------------------------------

TOKENS = {
    "eddie": ("idem-editor-secret", "editor"),
    "ada": ("idem-admin-secret", "admin"),
}


def bearer(who: str) -> dict[str, str]:
    return {"authorization": f"Bearer {TOKENS[who][0]}"}


@pytest.fixture
def tokens_file(tmp_path: Path) -> Path:
    path = tmp_path / "tokens"
    lines = [
        f"{hashlib.sha256(token.encode()).hexdigest()} {subject} {role}"
        for subject, (token, role) in TOKENS.items()
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


async def test_keys_belong_to_one_principal(
    make_settings: Callable[..., Settings], open_client: Opener, tokens_file: Path
) -> None:
    client = await open_client(
        create_app(make_settings(enable_auth=True, auth_tokens_file=tokens_file))
    )
    key = {KEY: "shared-key"}
    eddie = product_body()
    first = await client.post("/api/data-products", json=eddie, headers=key | bearer("eddie"))
    ok(first, 201)

    # Another principal with the same key and another body: its own request, not a 422.
    ada = await client.post("/api/data-products", json=product_body(), headers=key | bearer("ada"))
    ok(ada, 201)
    assert REPLAYED not in ada.headers
    # Eddie's body under ada's key is not eddie's replay: ada's key names ada's request.
    ada_copy = await client.post("/api/data-products", json=eddie, headers=key | bearer("ada"))
    error_of(ada_copy, 422)

    replay = await client.post("/api/data-products", json=eddie, headers=key | bearer("eddie"))
    assert replay.content == first.content
    assert replay.headers[REPLAYED] == "true"
    assert await product_total(client, bearer("ada")) == 2


# --- the database unavailable ----------------------------------------------------------------


@pytest.fixture
async def pg_proxy(postgres_url: str) -> AsyncIterator[TcpProxy]:
    url = make_url(postgres_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    yield proxy
    await proxy.down()


async def test_database_down_while_checking_the_key_is_503(
    postgres_url: str, pg_proxy: TcpProxy, open_client: Opener
) -> None:
    through = make_url(postgres_url).set(host="127.0.0.1", port=pg_proxy.port)
    settings = base_settings(
        through.render_as_string(hide_password=False), dependency_timeout_s=1.0
    )
    client = await open_client(create_app(settings))  # the database is down from the start

    answer: Response = await client.post(
        "/api/data-products", json=product_body(), headers={KEY: "db-down"}
    )
    error = error_of(answer, 503)
    assert answer.headers["retry-after"] == str(settings.unavailable_retry_after_s)
    assert error["retry_after"] == settings.unavailable_retry_after_s
    assert "idempotency" in error["details"]

    await pg_proxy.up()
    ok(await client.post("/api/data-products", json=product_body(), headers={KEY: "db-up"}), 201)


# --- a request whose writes committed is never run twice --------------------------------------


async def test_a_committed_request_whose_answer_was_not_stored_is_never_run_again(
    make_settings: Callable[..., Settings], open_client: Opener, monkeypatch: pytest.MonkeyPatch
) -> None:
    from catalog.idempotency.store import IdempotencyStore

    clock = ManualClock()
    client = await open_client(
        create_app(make_settings(idempotency_lock_timeout_s=2.0), clock=clock)
    )
    real_complete = IdempotencyStore.complete

    async def lost(*_args: Any) -> bool:
        raise OSError("the database went away after the commit")

    monkeypatch.setattr(IdempotencyStore, "complete", lost)
    headers = {KEY: "lost-answer"}
    body = product_body()
    ok(await client.post("/api/data-products", json=body, headers=headers), 201)  # still sent
    monkeypatch.setattr(IdempotencyStore, "complete", real_complete)

    soon = error_of(await client.post("/api/data-products", json=body, headers=headers), 409)
    assert "still being processed" in soon["details"]
    clock.advance(2.1)  # past the lock timeout: the attempt is over
    later = error_of(await client.post("/api/data-products", json=body, headers=headers), 409)
    assert "was applied" in later["details"]
    assert await product_total(client) == 1


async def test_a_failure_after_the_commit_keeps_the_key(
    make_settings: Callable[..., Settings], open_client: Opener, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 5xx answer normally frees the key; not when the request's writes are in."""
    from catalog.cache.core import Cache

    clock = ManualClock()
    client = await open_client(
        create_app(make_settings(idempotency_lock_timeout_s=0.3), clock=clock)
    )
    real_retire = Cache.retire
    failures = [RuntimeError("after the commit")]

    async def retire_failing_once(self: Cache, scopes: Any) -> None:
        if failures:
            raise failures.pop()
        await real_retire(self, scopes)

    monkeypatch.setattr(Cache, "retire", retire_failing_once)
    headers = {KEY: "after-commit"}
    body = product_body()
    error_of(await client.post("/api/data-products", json=body, headers=headers), 500)
    clock.advance(0.4)
    later = error_of(await client.post("/api/data-products", json=body, headers=headers), 409)
    assert "was applied" in later["details"]
    assert await product_total(client) == 1


async def test_a_commit_that_fails_frees_the_key(make_settings: Callable[..., Settings]) -> None:
    """The transaction (and its stamp on the key) rolled back: a retry runs the request."""
    app = create_app(make_settings())
    async with started(app) as manager:
        resources: Resources = lifespan_resources(manager)
        await search_index_built(resources)
        transport = ASGITransport(app=manager.app)
        async with AsyncClient(transport=transport, base_url="http://catalog.test") as client:
            headers = {KEY: "commit-failed"}
            body = product_body()
            lost = ConnectionResetError("connection lost before the commit")
            with failing_request_commits(resources, lost) as pending:
                error_of(await client.post("/api/data-products", json=body, headers=headers), 503)
                assert pending == []
            retried = await client.post("/api/data-products", json=body, headers=headers)
            ok(retried, 201)
            assert REPLAYED not in retried.headers
            assert await product_total(client) == 1
