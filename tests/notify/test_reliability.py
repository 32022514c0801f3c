"""Notification reliability: retries with backoff, dead letters and replay, the age limit,
the circuit breaker per endpoint, leases, and no duplicates; time moves by hand."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from httpx import ASGITransport, AsyncClient

from catalog.app import create_app
from catalog.core.tasks import RoundLoop
from catalog.notify.dispatcher import Dispatcher
from catalog.notify.repository import DeliveryRepository
from catalog.settings import Settings
from tests.support.api import create_product, ok
from tests.support.clock import ManualClock
from tests.support.lifespan import resources_of, started
from tests.support.metrics import scrape, value
from tests.support.receiver import Receiver
from tests.support.wait import until

QUIET = {"notify_allowed_hosts": ("127.0.0.1",), "notify_interval_s": 3600.0}
TOTAL = "catalog_notifications_total"


@asynccontextmanager
async def service(
    settings: Settings, clock: ManualClock
) -> AsyncIterator[tuple[AsyncClient, Dispatcher]]:
    app = create_app(settings, clock=clock)
    async with started(app) as manager:
        dispatcher = resources_of(manager).notifications
        assert dispatcher is not None
        transport = ASGITransport(app=manager.app)
        async with AsyncClient(transport=transport, base_url="http://catalog.test") as client:
            yield client, dispatcher


async def subscribe(client: AsyncClient, product_id: str, url: str) -> str:
    body = {
        "product_id": product_id,
        "url": url,
        "secret": "s3cret-s3cret-s3cret",
        "event_types": ["access_request.created"],  # one event per request_access
    }
    subscription: dict[str, Any] = ok(await client.post("/api/subscriptions", json=body), 201)
    return str(subscription["id"])


async def request_access(client: AsyncClient, product_id: str) -> None:
    """One access_request.created; the request is rejected at once (one pending request per
    requester and product), its access_request.decided not subscribed to."""
    body = {"product_id": product_id, "reason": "reporting"}
    request = ok(await client.post("/api/access-requests", json=body), 201)
    ok(await client.post(f"/api/access-requests/{request['id']}/reject"))


async def deliveries(
    client: AsyncClient, subscription_id: str, status: str | None = None
) -> list[dict[str, Any]]:
    query = f"?status={status}" if status else ""
    page = ok(await client.get(f"/api/subscriptions/{subscription_id}/deliveries{query}"))
    items: list[dict[str, Any]] = page["items"]
    return items


async def one_delivery(
    client: AsyncClient, subscription_id: str, check: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    seen: list[dict[str, Any]] = []

    async def looked() -> dict[str, Any] | None:
        seen[:] = await deliveries(client, subscription_id)
        return seen[0] if len(seen) == 1 and check(seen[0]) else None

    return await until(looked, lambda: f"the delivery as expected (saw {seen})")


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def test_a_5xx_is_retried_after_a_backoff_and_then_delivered_once(
    make_settings: Callable[..., Settings], receiver: Receiver
) -> None:
    clock = ManualClock()
    async with service(make_settings(**QUIET), clock) as (client, dispatcher):
        before = await scrape(client)
        product = await create_product(client)
        subscription = await subscribe(client, product["id"], receiver.url)
        receiver.status = 500
        await request_access(client, product["id"])
        await dispatcher.run_once()
        failed = await one_delivery(client, subscription, lambda d: d["attempts"] == 1)
        assert (failed["status"], failed["last_status"]) == ("pending", 500)
        wait_s = (moment(failed["next_attempt_at"]) - clock.now()).total_seconds()
        assert 0.5 - 0.01 <= wait_s <= 1.0 + 0.01
        assert await dispatcher.deliver() == 0  # not due yet
        receiver.status = 200
        clock.advance(1.1)
        await dispatcher.deliver()
        done = await one_delivery(client, subscription, lambda d: d["status"] == "delivered")
        assert done["attempts"] == 2
        assert len(receiver.bodies) == 1
        after = await scrape(client)
        for outcome in ("retried", "delivered"):
            labels = {"channel": "webhook", "outcome": outcome}
            assert value(after, TOTAL, **labels) == value(before, TOTAL, **labels) + 1
        lag = "catalog_notification_lag_seconds_count"
        assert value(after, lag, channel="webhook") >= value(before, lag, channel="webhook") + 1


async def test_a_4xx_dead_letters_at_once_and_replay_sends_it_again(
    make_settings: Callable[..., Settings], receiver: Receiver
) -> None:
    clock = ManualClock()
    async with service(make_settings(**QUIET), clock) as (client, dispatcher):
        product = await create_product(client)
        subscription = await subscribe(client, product["id"], receiver.url)
        receiver.status = 410
        start = clock.now() - timedelta(seconds=5)
        await request_access(client, product["id"])
        await dispatcher.run_once()
        dead = await one_delivery(client, subscription, lambda d: d["status"] == "dead")
        assert (dead["attempts"], dead["last_status"]) == (1, 410)
        assert [d["id"] for d in await deliveries(client, subscription, "dead")] == [dead["id"]]
        assert await deliveries(client, subscription, "pending") == []
        later = (clock.now() + timedelta(hours=1)).isoformat()
        replay = f"/api/subscriptions/{subscription}/replay"
        assert ok(await client.post(replay, params={"since": later})) == {"requeued": 0}
        receiver.status = 200
        assert ok(await client.post(replay, params={"since": start.isoformat()})) == {"requeued": 1}
        await dispatcher.deliver()  # due at once: the replay stamps the app's clock
        await one_delivery(client, subscription, lambda d: d["status"] == "delivered")
        [received] = receiver.received
        assert received.headers["x-catalog-event-id"] == dead["event_id"]
        assert ok(await client.post(replay, params={"since": start.isoformat()})) == {"requeued": 0}


async def test_retries_stop_when_the_event_is_too_old(
    make_settings: Callable[..., Settings], receiver: Receiver
) -> None:
    clock = ManualClock()
    settings = make_settings(**QUIET, notify_max_age_s=60)
    async with service(settings, clock) as (client, dispatcher):
        product = await create_product(client)
        subscription = await subscribe(client, product["id"], receiver.url)
        receiver.status = 503
        await request_access(client, product["id"])
        await dispatcher.run_once()
        await one_delivery(client, subscription, lambda d: d["attempts"] == 1)
        clock.advance(90)  # past 60 s from the event's own stamp
        await dispatcher.deliver()
        dead = await one_delivery(client, subscription, lambda d: d["status"] == "dead")
        assert (dead["attempts"], dead["last_status"]) == (2, 503)


async def test_an_open_breaker_defers_its_endpoint_only(
    make_settings: Callable[..., Settings], receiver: Receiver
) -> None:
    healthy = Receiver()
    clock = ManualClock()
    try:
        async with service(make_settings(**QUIET), clock) as (client, dispatcher):
            product = await create_product(client)
            broken = await subscribe(client, product["id"], receiver.url)
            fine = await subscribe(client, product["id"], healthy.url)
            receiver.status = 500
            for _ in range(5):
                await request_access(client, product["id"])
            await dispatcher.run_once()
            await dispatcher.run_once()

            async def all_tried() -> bool:
                rows = await deliveries(client, broken)
                return len(rows) == 5 and all(d["attempts"] == 1 for d in rows)

            await until(all_tried, "five failed sends to the broken endpoint")
            assert receiver.attempts == 5
            before = await scrape(client)
            await request_access(client, product["id"])
            clock.advance(1.1)  # the first retries are due, the breaker is still open
            await dispatcher.run_once()
            await dispatcher.run_once()
            await until(lambda: _count(healthy, 6), "the healthy endpoint hears all six")
            assert receiver.attempts == 5  # nothing sent to the open breaker's endpoint
            rows = await deliveries(client, broken)
            assert len(rows) == 6
            assert all(d["status"] == "pending" for d in rows)
            assert sorted(d["attempts"] for d in rows) == [0, 1, 1, 1, 1, 1]
            after = await scrape(client)
            labels = {"channel": "webhook", "outcome": "deferred"}
            assert value(after, TOTAL, **labels) >= value(before, TOTAL, **labels) + 6
            assert all(d["status"] == "delivered" for d in await deliveries(client, fine))
    finally:
        healthy.stop()


async def _count(receiver: Receiver, count: int) -> bool:
    return len(receiver.bodies) >= count


async def test_a_leased_delivery_waits_for_its_lease_to_run_out(
    make_settings: Callable[..., Settings], receiver: Receiver
) -> None:
    clock = ManualClock()
    settings = make_settings(**QUIET, notify_lease_s=120.0)
    async with service(settings, clock) as (client, dispatcher):
        product = await create_product(client)
        subscription = await subscribe(client, product["id"], receiver.url)
        await RoundLoop.stop(dispatcher)  # no background round: this test is every worker
        await request_access(client, product["id"])
        await dispatcher.fan_out()
        now = clock.now()
        async with dispatcher.sessions() as session:  # a worker that claims, then dies
            claimed = await DeliveryRepository(session).claim(now, now + timedelta(seconds=120), 10)
            await session.commit()
        assert len(claimed) == 1
        assert await dispatcher.deliver() == 0
        clock.advance(119)
        assert await dispatcher.deliver() == 0
        assert receiver.bodies == []
        clock.advance(2)
        assert await dispatcher.deliver() == 1
        await one_delivery(client, subscription, lambda d: d["status"] == "delivered")
        assert len(receiver.bodies) == 1


async def test_thirty_events_arrive_exactly_once(
    make_settings: Callable[..., Settings], receiver: Receiver
) -> None:
    settings = make_settings(notify_allowed_hosts=("127.0.0.1",), notify_interval_s=0.05)
    async with service(settings, ManualClock()) as (client, _dispatcher):
        product = await create_product(client)
        subscription = await subscribe(client, product["id"], receiver.url)
        for _ in range(30):
            await request_access(client, product["id"])

        async def settled() -> list[dict[str, Any]] | None:
            page = await client.get(
                f"/api/subscriptions/{subscription}/deliveries", params={"limit": 100}
            )
            rows: list[dict[str, Any]] = ok(page)["items"]
            ready = len(rows) == 30 and all(d["status"] == "delivered" for d in rows)
            return rows if ready else None

        rows = await until(settled, lambda: f"30 delivered (got {len(receiver.bodies)})")
        ids = [body["id"] for body in receiver.bodies]
        assert len(ids) == 30
        assert len(set(ids)) == 30
        assert set(ids) == {d["event_id"] for d in rows}
        assert all(d["attempts"] == 1 for d in rows)


async def test_another_users_subscription_cannot_be_replayed(
    make_settings: Callable[..., Settings], receiver: Receiver, tmp_path: Path
) -> None:
    tokens = {"stella-secret-1": "stella", "sam-secret-2": "sam"}
    lines = [f"{hashlib.sha256(t.encode()).hexdigest()} {who} steward" for t, who in tokens.items()]
    (tmp_path / "tokens").write_text("\n".join(lines) + "\n")
    settings = make_settings(**QUIET, enable_auth=True, auth_tokens_file=tmp_path / "tokens")
    stella = {"authorization": "Bearer stella-secret-1"}
    sam = {"authorization": "Bearer sam-secret-2"}
    async with service(settings, ManualClock()) as (client, _dispatcher):
        body = {"url": receiver.url, "secret": "s3cret-s3cret-s3cret"}
        answer = await client.post("/api/subscriptions", json=body, headers=stella)
        subscription = ok(answer, 201)["id"]
        replay = f"/api/subscriptions/{subscription}/replay"
        since = {"since": "2020-01-01T00:00:00Z"}
        assert (await client.post(replay, params=since, headers=sam)).status_code == 404
        assert ok(await client.post(replay, params=since, headers=stella)) == {"requeued": 0}
