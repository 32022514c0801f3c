"""Where alerts go: a generic webhook (Alertmanager's format), Slack, PagerDuty, email.

Each sink turns an alert into its receiver's documented payload:

- webhook: the Alertmanager webhook payload, `"version": "4"` (so anything that consumes
  Alertmanager notifications consumes these);
- Slack: an incoming-webhook message (`text` plus a `blocks` section);
- PagerDuty: Events API v2, `trigger` on firing and `resolve` on resolution, the alert's
  fingerprint as `dedup_key` (so PagerDuty pairs them and deduplicates repeats);
- email: a plain-text message over SMTP (STARTTLS when configured), sent from a thread.

A failed send raises; the engine retries it (full jitter) behind the sink's circuit breaker.
"""

from __future__ import annotations

import asyncio
import smtplib
from email.message import EmailMessage
from typing import Any, Protocol

import httpx

from catalog.alerting.schemas import Notification
from catalog.core.retry import TRANSIENT_STATUSES, TransientHTTPStatus, call_with_retry
from catalog.core.time import isoformat_z
from catalog.settings import Settings

ZERO_TIME = "0001-01-01T00:00:00Z"  # Alertmanager's "not resolved yet"


class Sink(Protocol):
    name: str

    async def send(self, note: Notification) -> None: ...


def labels_of(note: Notification) -> dict[str, str]:
    return {
        "alertname": note.alert_type,
        "severity": note.severity,
        "service": "catalog",
        "instance": note.instance,
    } | note.labels


def alertmanager_payload(note: Notification) -> dict[str, Any]:
    labels = labels_of(note)
    annotations = {"summary": note.summary, "description": note.description}
    return {
        "version": "4",
        "groupKey": f'{{}}:{{alertname="{note.alert_type}"}}',
        "truncatedAlerts": 0,
        "status": note.status,
        "receiver": "catalog",
        "groupLabels": {"alertname": note.alert_type},
        "commonLabels": labels,
        "commonAnnotations": annotations,
        "externalURL": "",
        "alerts": [
            {
                "status": note.status,
                "labels": labels,
                "annotations": annotations,
                "startsAt": isoformat_z(note.starts_at),
                "endsAt": isoformat_z(note.ends_at) if note.ends_at else ZERO_TIME,
                "generatorURL": "",
                "fingerprint": note.fingerprint,
            }
        ],
    }


def slack_payload(note: Notification) -> dict[str, Any]:
    mark = ":rotating_light:" if note.status == "firing" else ":white_check_mark:"
    text = f"{mark} [{note.status.upper()}] {note.summary}"
    details = f"*{note.alert_type}* ({note.severity}) on `{note.instance}`\n{note.description}"
    return {
        "text": text,
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": f"{text}\n{details}"}}],
    }


def pagerduty_payload(note: Notification, routing_key: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": "trigger" if note.status == "firing" else "resolve",
        "dedup_key": note.fingerprint,
    }
    if note.status == "firing":
        body["payload"] = {
            "summary": note.summary,
            "source": note.instance,
            "severity": "critical" if note.severity == "critical" else "warning",
            "timestamp": isoformat_z(note.starts_at),
            "component": "catalog",
            "class": note.alert_type,
            "custom_details": {"description": note.description, **note.labels},
        }
    return body


class HttpSink:
    """POST a JSON payload; transient answers and transport errors are retried."""

    def __init__(self, name: str, url: str, build: Any, http: httpx.AsyncClient) -> None:
        self.name = name
        self.url = url
        self.build = build
        self.http = http

    async def send(self, note: Notification) -> None:
        async def post() -> None:
            response = await self.http.post(self.url, json=self.build(note))
            if response.status_code in TRANSIENT_STATUSES:
                raise TransientHTTPStatus(response)
            response.raise_for_status()

        # Idempotent for the receiver: Alertmanager payloads and PagerDuty events are keyed
        # by fingerprint / dedup_key; a duplicate Slack line is the price of not losing one.
        await call_with_retry(post, idempotent=True)


class EmailSink:
    name = "email"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def send(self, note: Notification) -> None:
        message = EmailMessage()
        message["Subject"] = f"[{note.status.upper()}] catalog: {note.summary}"
        message["From"] = self.settings.alert_email_from
        message["To"] = ", ".join(self.settings.alert_email_to)
        lines = [
            note.description,
            "",
            *(f"{k}: {v}" for k, v in labels_of(note).items()),
            f"starts_at: {isoformat_z(note.starts_at)}",
        ]
        message.set_content("\n".join(lines))
        await call_with_retry(lambda: asyncio.to_thread(self._deliver, message), idempotent=True)

    def _deliver(self, message: EmailMessage) -> None:
        smtp_send(self.settings, message)


def smtp_send(settings: Settings, message: EmailMessage, timeout_s: float = 10.0) -> None:
    """Send over the SMTP server of CATALOG_ALERT_SMTP_* (blocking: call from a thread);
    the alert email sink's and the notifications' email channel's one way out."""
    assert settings.alert_smtp_host is not None
    with smtplib.SMTP(
        settings.alert_smtp_host, settings.alert_smtp_port, timeout=timeout_s
    ) as smtp:
        if settings.alert_smtp_starttls:
            smtp.starttls()
        if settings.alert_smtp_username and settings.alert_smtp_password:
            smtp.login(
                settings.alert_smtp_username, settings.alert_smtp_password.get_secret_value()
            )
        smtp.send_message(message)


def configured_sinks(settings: Settings, http: httpx.AsyncClient) -> list[Sink]:
    sinks: list[Sink] = []
    if settings.alert_webhook_url:
        sinks.append(HttpSink("webhook", settings.alert_webhook_url, alertmanager_payload, http))
    if settings.alert_slack_webhook_url:
        sinks.append(
            HttpSink(
                "slack", settings.alert_slack_webhook_url.get_secret_value(), slack_payload, http
            )
        )
    if settings.alert_pagerduty_routing_key:
        key = settings.alert_pagerduty_routing_key.get_secret_value()
        sinks.append(
            HttpSink(
                "pagerduty",
                settings.pagerduty_events_url,
                lambda note: pagerduty_payload(note, key),
                http,
            )
        )
    if settings.alert_smtp_host and settings.alert_email_to:
        sinks.append(EmailSink(settings))
    return sinks
