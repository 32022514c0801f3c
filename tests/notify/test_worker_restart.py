"""A `catalog serve` killed (SIGKILL) mid-batch, with webhook sends in flight, then started
again on the same database: no event is lost, and none is delivered twice in effect.

At least once with idempotent ids (notify/dispatcher.py): the deliveries the dead worker had
leased and not settled are sent again once the lease (CATALOG_NOTIFY_LEASE_S) runs out, with
the same body and X-Catalog-Event-Id; a receiver that deduplicates by that id, as the README
asks, accepts each event once. The raw repeats are exactly the sends the receiver had taken
from the killed worker whose delivery was still leased at the kill, so at most one batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from subprocess import Popen
from typing import Any

import httpx
import pytest

from tests.support.api import create_product, ok
from tests.support.db import query
from tests.support.process import catalog_server, kill_group
from tests.support.receiver import Received, Receiver
from tests.support.wait import until

PRODUCTS = 4
REQUESTS_PER_PRODUCT = 15  # 60 access requests, one event each
BATCH = 10  # deliveries a worker claims per round: the most that can be in flight at a kill
CONCURRENCY = 5  # sends at once: a batch takes two turns of the slow receiver
DELAY_S = 0.2  # each answer of the receiver
FIREHOSE = "/hook/all"  # a subscription with no scope: every event


@contextlib.asynccontextmanager
async def serving(env: dict[str, str], log: Path) -> AsyncIterator[tuple[Popen[str], str]]:
    """catalog_server, started and stopped in a thread: the test's event loop stays free."""
    manager = catalog_server(env, output=log)
    server = await asyncio.to_thread(manager.__enter__)
    try:
        yield server
    finally:
        await asyncio.to_thread(manager.__exit__, None, None, None)


def server_env(database_url: str) -> dict[str, str]:
    return {
        "CATALOG_DATABASE_URL": database_url,
        "CATALOG_NOTIFY_ALLOWED_HOSTS": "127.0.0.1",
        "CATALOG_NOTIFY_INTERVAL_S": "0.05",
        # Longer than a batch can take (two turns of the timeout), as the settings demand.
        "CATALOG_NOTIFY_LEASE_S": "21",
        "CATALOG_NOTIFY_BATCH": str(BATCH),
        "CATALOG_NOTIFY_CONCURRENCY": str(CONCURRENCY),
        # The first sends are held while the events are made (about a second): no timeout
        # meanwhile.
        "CATALOG_NOTIFY_TIMEOUT_S": "10",
        "RATE_LIMIT_ENABLED": "false",
    }


def key(received: Received) -> tuple[str, str]:
    """A delivery as a deduplicating receiver sees it: its endpoint and the event id."""
    return received.path, received.headers["x-catalog-event-id"]


def tail(log: Path) -> str:
    return "\n".join(log.read_text().splitlines()[-30:]) if log.exists() else ""


async def subscribe(client: httpx.AsyncClient, url: str, product_id: str | None) -> str:
    body = {"url": url, "secret": "restart-secret-0123456789", "product_id": product_id}
    created = ok(await client.post("/api/subscriptions", json=body), 201)
    return str(created["id"])


async def request_access(client: httpx.AsyncClient, product_ids: list[str]) -> dict[str, str]:
    """One access request per requester (all distinct), REQUESTS_PER_PRODUCT on each product,
    a few at a time: {request id: product id}."""
    limit = asyncio.Semaphore(4)

    async def one(number: int, product_id: str) -> tuple[str, str]:
        body = {
            "product_id": product_id,
            "reason": f"restart test {number}",
            "requester_id": f"requester-{number}",
        }
        async with limit:
            answer = await client.post("/api/discover/access-request", json=body)
        return str(ok(answer, 201)["id"]), product_id

    asked = [
        one(number, product_ids[number % len(product_ids)])
        for number in range(PRODUCTS * REQUESTS_PER_PRODUCT)
    ]
    return dict(await asyncio.gather(*asked))


async def deliveries(database_url: str) -> list[Any]:
    """(status, leased, endpoint URL, event id) of every delivery row."""
    return await query(
        database_url,
        "SELECT d.status, d.lease_until IS NOT NULL AS leased, s.url, e.id"
        " FROM notification_deliveries d"
        " JOIN subscriptions s ON s.id = d.subscription_id"
        " JOIN catalog_events e ON e.seq = d.event_seq",
    )


def leased(rows: list[Any], origin: str) -> set[tuple[str, str]]:
    """The deliveries (path, event id) a worker has claimed and not settled."""
    return {
        (url.removeprefix(origin), event_id)
        for status, is_leased, url, event_id in rows
        if status == "pending" and is_leased
    }


@pytest.mark.timeout(400)
async def test_a_worker_killed_mid_batch_loses_and_duplicates_nothing(
    database_url: str, receiver: Receiver, tmp_path: Path
) -> None:
    env = server_env(database_url)
    receiver.delay_s = DELAY_S
    receiver.phase = "before kill"
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    async with serving(env, first_log) as (first, base):
        async with httpx.AsyncClient(base_url=base, timeout=60) as client:
            products = [str((await create_product(client))["id"]) for _ in range(PRODUCTS)]
            subscriptions = {
                f"/hook/{product_id}": await subscribe(
                    client, f"{receiver.url}/{product_id}", product_id
                )
                for product_id in products
            }
            subscriptions[FIREHOSE] = await subscribe(client, f"{receiver.url}/all", None)
            receiver.hold()  # the first sends wait until every event has been made
            made = await request_access(client, products)
            receiver.release()
        expected = {
            (f"/hook/{product_id}", request_id) for request_id, product_id in made.items()
        } | {(FIREHOSE, request_id) for request_id in made}

        origin = f"http://127.0.0.1:{receiver.port}"

        async def frozen_mid_batch() -> bool:
            """Hold the receiver's answers at a moment when the worker's batch has sends
            answered (their 2xx taken but not recorded: a batch is settled once all of it
            is sent) and sends held at the receiver, so it cannot settle; else go on."""
            if len(receiver.received) < 2 * BATCH or not receiver.in_flight:
                return False
            receiver.hold()
            answered = {key(one) for one in receiver.answered}
            if receiver.in_flight and answered & leased(await deliveries(database_url), origin):
                return True
            receiver.release()
            return False

        await until(frozen_mid_batch, lambda: f"a batch mid-send ({tail(first_log)})", 120)
        kill_group(first)  # SIGKILL the server and its worker: no shutdown, no settling
        await asyncio.to_thread(first.wait, 30)

    # The state at the kill: what the receiver took, what it answered, what was leased.
    received_before = {key(one) for one in receiver.received}
    answered_before = {key(one) for one in receiver.answered}
    held = receiver.in_flight
    rows = await deliveries(database_url)
    leased_at_kill = leased(rows, origin)
    assert 0 < len(received_before) < len(expected), "the kill must come mid-delivery"
    assert 0 < len(leased_at_kill) <= BATCH  # one worker claims one batch at a time
    assert answered_before & leased_at_kill, "a 2xx taken and not recorded at the kill"
    assert held > 0, "sends in flight at the kill"
    assert all(status != "dead" for status, *_ in rows), rows
    receiver.release()

    receiver.phase = "after restart"
    async with (
        serving(env, second_log) as (_second, base),
        httpx.AsyncClient(base_url=base, timeout=60) as client,
    ):
        settled: dict[str, list[dict[str, Any]]] = {}

        async def all_delivered() -> bool:
            for path, subscription_id in subscriptions.items():
                page = ok(
                    await client.get(
                        f"/api/subscriptions/{subscription_id}/deliveries",
                        params={"limit": 500},
                    )
                )
                settled[path] = page["items"]
            rows = [d for items in settled.values() for d in items]
            return len(rows) == len(expected) and all(d["status"] == "delivered" for d in rows)

        def unsettled() -> str:
            statuses = Counter(d["status"] for items in settled.values() for d in items)
            return f"all {len(expected)} deliveries delivered (seen {statuses}) {tail(second_log)}"

        await until(all_delivered, unsettled, 240, 0.2)

    received = list(receiver.received)
    counts = Counter(key(one) for one in received)
    # None lost: every event reached every subscription that covers it, as its own event.
    bodies = {key(one): json.loads(one.raw) for one in received}
    assert {(path, body["subject"]["id"]) for (path, _), body in bodies.items()} == expected
    assert {body["type"] for body in bodies.values()} == {"access_request.created"}
    assert len(counts) == len(expected)  # one event id per request and subscription
    # Nothing twice in effect: the repeats are the sends taken from the killed worker whose
    # delivery it had leased and not settled, each once more, the same body and event id.
    repeated = {k for k, n in counts.items() if n > 1}
    assert all(counts[k] == 2 for k in repeated), counts
    # (by phase: a send of the killed worker read by the receiver after the kill is one too)
    before = {key(one) for one in received if one.phase == "before kill"}
    assert repeated == before & leased_at_kill
    assert answered_before & leased_at_kill <= repeated
    assert len(repeated) <= BATCH
    for k in repeated:
        first_send, again = (one for one in received if key(one) == k)
        assert (first_send.phase, again.phase) == ("before kill", "after restart")
        assert again.raw == first_send.raw
        assert again.headers["x-catalog-event-id"] == first_send.headers["x-catalog-event-id"]
    # Every delivery row ends delivered, and the API shows each event id once per endpoint.
    for path, items in settled.items():
        assert all(d["status"] == "delivered" for d in items)
        ids = [d["event_id"] for d in items]
        assert len(ids) == len(set(ids))
        assert {(path, event_id) for event_id in ids} == {k for k in counts if k[0] == path}
    print(  # the report of a run (pytest -s)
        f"at the kill: {len(received_before)} received, {len(leased_at_kill)} leased, "
        f"{len(answered_before & leased_at_kill)} answered unsettled, {held} held; "
        f"{len(repeated)} sent again; {len(received)} requests for {len(expected)} deliveries"
    )
