"""The alert engine on synthetic traffic: rules fire and resolve, dedup, delivery, sinks."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from httpx import ASGITransport, AsyncClient
from sqlalchemy import make_url

from catalog.alerting.engine import AlertEngine
from catalog.settings import Settings
from tests.conftest import base_settings
from tests.support.api import ok
from tests.support.clock import ManualClock
from tests.support.lifespan import resources_of as lifespan_resources
from tests.support.lifespan import started
from tests.support.metrics import scrape, value
from tests.support.probe_routes import app_with_probe_routes
from tests.support.receiver import Receiver
from tests.support.smtp import smtp_server
from tests.support.tcp_proxy import TcpProxy
from tests.support.wait import until


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    hook = Receiver()
    yield hook
    hook.stop()


@asynccontextmanager
async def service(
    settings: Settings, clock: ManualClock | None = None
) -> AsyncIterator[tuple[AsyncClient, AlertEngine]]:
    """The app, its client and its alert engine (evaluated by hand: no waiting on timers;
    a test that needs time to pass passes a clock and advances it)."""
    app = app_with_probe_routes(settings, clock)
    async with started(app) as manager:
        engine: AlertEngine = lifespan_resources(manager).alerts
        transport = ASGITransport(app=manager.app)
        async with AsyncClient(transport=transport, base_url="http://catalog.test") as client:
            yield client, engine


def alerting(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "alert_window_s": 2,
        "alert_min_requests": 5,
        "alert_max_latency_ms": 5000,
        "alert_check_interval_s": 3600,
        "alert_error_threshold": 20.0,
    }
    return base_settings(database_url, **(values | overrides))


async def active(client: AsyncClient, **params: Any) -> list[dict[str, Any]]:
    items = ok(await client.get("/api/admin/alerts", params={"status": "firing"} | params))
    return items["items"]  # type: ignore[no-any-return]


async def test_latency_rules_fire_then_resolve_and_reach_the_webhook(
    database_url: str, receiver: Receiver
) -> None:
    settings = alerting(database_url, alert_webhook_url=receiver.url, alert_max_latency_ms=100)
    clock = ManualClock()
    async with service(settings, clock) as (client, engine):
        for _ in range(6):
            await client.get("/t/slow", params={"seconds": 0.15})
        await engine.evaluate_once()
        firing = {a["alert_type"] for a in await active(client)}
        assert {"high_latency", "slow_request"} <= firing
        assert {b["alerts"][0]["labels"]["alertname"] for b in receiver.bodies} >= {
            "high_latency",
            "slow_request",
        }
        body = next(
            b for b in receiver.bodies if b["alerts"][0]["labels"]["alertname"] == "high_latency"
        )
        assert body["version"] == "4"
        assert body["status"] == "firing"
        assert body["alerts"][0]["endsAt"] == "0001-01-01T00:00:00Z"
        assert body["alerts"][0]["labels"]["severity"] == "warning"
        assert body["alerts"][0]["annotations"]["summary"].startswith("p95 latency")
        clock.advance(2.1)  # the slow requests leave the window
        for _ in range(6):
            await client.get("/livez")
        await engine.evaluate_once()
        assert await active(client) == []
        resolved = [b for b in receiver.bodies if b["status"] == "resolved"]
        assert {b["alerts"][0]["labels"]["alertname"] for b in resolved} >= {
            "high_latency",
            "slow_request",
        }
        assert resolved[0]["alerts"][0]["endsAt"] != "0001-01-01T00:00:00Z"


async def test_server_errors_and_error_rate(database_url: str, receiver: Receiver) -> None:
    settings = alerting(database_url, alert_webhook_url=receiver.url)
    async with service(settings) as (client, engine):
        before = await scrape(client)
        for _ in range(3):
            await client.get("/t/boom")
        for _ in range(4):
            await client.get("/livez")
        await engine.evaluate_once()
        alerts = {a["alert_type"]: a for a in await active(client)}
        assert alerts["server_error"]["labels"] == {"endpoint": "/t/boom", "status": "500"}
        assert alerts["server_error"]["severity"] == "critical"
        assert "error_rate" in alerts  # 3 of 7 requests
        after = await scrape(client)
        for kind in ("server_error", "error_rate"):
            assert (
                value(after, "catalog_alerts_total", alert_type=kind)
                - value(before, "catalog_alerts_total", alert_type=kind)
                == 1
            )


async def test_error_rate_ignores_windows_with_too_few_requests(database_url: str) -> None:
    async with service(alerting(database_url, alert_min_requests=50)) as (client, engine):
        await client.get("/t/boom")
        await engine.evaluate_once()
        kinds = {a["alert_type"] for a in await active(client)}
        assert "server_error" in kinds  # any 5xx
        assert "error_rate" not in kinds  # but 1 of 1 is no rate


async def test_rate_limit_storm(database_url: str) -> None:
    settings = alerting(
        database_url, rate_limit_enabled=True, rate_limit_per_ip_rps=0.01, rate_limit_burst=1
    )
    async with service(settings) as (client, engine):
        before = await scrape(client)  # /metrics is never rate limited; the alert list is
        for _ in range(10):
            await client.get("/api/info")
        await engine.evaluate_once()
        after = await scrape(client)
        assert (
            value(after, "catalog_alerts_total", alert_type="rate_limit_storm")
            - value(before, "catalog_alerts_total", alert_type="rate_limit_storm")
            == 1
        )


async def test_dependency_down(postgres_url: str) -> None:
    url = make_url(postgres_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.up()
    through = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    settings = alerting(through, redis_url="redis://127.0.0.1:1/0", dependency_timeout_s=0.5)
    try:
        async with service(settings) as (client, engine):
            await engine.evaluate_once()  # Redis (port 1) is down, the database is up
            down = [a for a in await active(client) if a["alert_type"] == "dependency_down"]
            assert [a["labels"] for a in down] == [{"dependency": "redis"}]
    finally:
        await proxy.down()


async def test_alerts_are_deduplicated_and_repeated_only_after_the_interval(
    database_url: str, receiver: Receiver
) -> None:
    settings = alerting(
        database_url, alert_webhook_url=receiver.url, alert_window_s=30, alert_repeat_interval_s=1
    )
    clock = ManualClock()
    async with service(settings, clock) as (client, engine):
        await client.get("/t/boom")
        for _ in range(3):
            await engine.evaluate_once()
        firing = [b for b in receiver.bodies if b["status"] == "firing"]
        assert len(firing) == 1  # one alert, one notification
        assert len(await active(client)) == 1
        clock.advance(1.1)
        await engine.evaluate_once()
        assert len([b for b in receiver.bodies if b["status"] == "firing"]) == 2  # a reminder
        fingerprints = {b["alerts"][0]["fingerprint"] for b in receiver.bodies}
        assert len(fingerprints) == 1


async def test_a_sink_outage_loses_nothing_and_delivers_once(
    database_url: str, receiver: Receiver
) -> None:
    settings = alerting(database_url, alert_webhook_url=receiver.url, alert_window_s=30)
    async with service(settings) as (client, engine):
        receiver.status = 503
        await client.get("/t/boom")
        await engine.evaluate_once()  # delivery fails (retried, then kept for later)
        assert receiver.attempts >= 2
        assert receiver.bodies == []
        [alert] = await active(client)
        assert alert["deliveries"] == {}
        owed = value(
            await scrape(client), "catalog_background_queue_depth", queue="alert_deliveries"
        )
        assert owed == 1  # the operator sees what is still owed
        receiver.status = 200
        await engine.evaluate_once()
        await engine.evaluate_once()
        assert [b["status"] for b in receiver.bodies] == ["firing"]  # exactly once
        owed = value(
            await scrape(client), "catalog_background_queue_depth", queue="alert_deliveries"
        )
        assert owed == 0
        [alert] = await active(client)
        assert alert["deliveries"] == {"webhook": "firing"}


async def test_slack_and_pagerduty_payloads(database_url: str) -> None:
    slack, pagerduty = Receiver(), Receiver()
    settings = alerting(
        database_url,
        alert_window_s=1,
        alert_slack_webhook_url=slack.url,
        alert_pagerduty_routing_key="R0UT1NG",
        pagerduty_events_url=pagerduty.url,
    )
    clock = ManualClock()
    try:
        async with service(settings, clock) as (client, engine):
            await client.get("/t/boom")
            await engine.evaluate_once()
            clock.advance(1.1)
            await engine.evaluate_once()  # resolved
        [message, *_] = slack.bodies
        assert message["text"].startswith(":rotating_light: [FIRING]")
        assert message["blocks"][0]["type"] == "section"
        assert message["blocks"][0]["text"]["type"] == "mrkdwn"
        trigger, resolve = pagerduty.bodies
        assert trigger["routing_key"] == "R0UT1NG"
        assert trigger["event_action"] == "trigger"
        assert trigger["payload"]["severity"] == "critical"
        assert set(trigger["payload"]) >= {"summary", "source", "severity", "timestamp"}
        assert resolve == {
            "routing_key": "R0UT1NG",
            "event_action": "resolve",
            "dedup_key": trigger["dedup_key"],
        }
    finally:
        slack.stop()
        pagerduty.stop()


async def test_email_sink_over_a_real_smtp_server(database_url: str) -> None:
    with smtp_server() as mailbox:
        settings = alerting(
            database_url,
            alert_window_s=30,
            alert_smtp_host="127.0.0.1",
            alert_smtp_port=mailbox.port,
            alert_smtp_starttls=False,
            alert_email_to=("oncall@example.com",),
        )
        async with service(settings) as (client, engine):
            await client.get("/t/boom")
            await engine.evaluate_once()
        assert len(mailbox.envelopes) == 1
        assert mailbox.envelopes[0].rcpt_tos == ["oncall@example.com"]
        assert b"[FIRING] catalog: /t/boom answered 500" in mailbox.envelopes[0].content


async def test_the_engine_runs_by_itself(database_url: str) -> None:
    settings = alerting(database_url, alert_check_interval_s=1, alert_window_s=30)
    async with service(settings) as (client, _):
        await client.get("/t/boom")

        async def fired() -> bool:
            return bool(await active(client))

        await until(fired, "the alert engine firing by itself", timeout_s=4)
        assert await fired()


async def test_alert_listing_is_admin_only(
    database_url: str, open_client: Callable[..., Awaitable[AsyncClient]]
) -> None:
    from catalog.app import create_app

    client = await open_client(create_app(base_settings(database_url, anonymous_role="steward")))
    assert (await client.get("/api/admin/alerts")).status_code == 403
