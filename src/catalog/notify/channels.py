"""What each channel sends for an event, and sending it.

- webhook: the event document as JSON, signed (`X-Catalog-Signature`, signing.py), with the
  event's id (`X-Catalog-Event-Id`, the receiver's dedup key) and type in headers; sent to the
  address the SSRF guard checked (targets.py), with the original Host and TLS name;
- slack: an incoming-webhook message (`text` and a `blocks` section) summing the event up;
- email: a plain-text message over the SMTP server of CATALOG_ALERT_SMTP_* (the alert
  sinks' settings), from a thread.

A send returns the HTTP status (None for email) or raises: `Permanent` for answers a retry
cannot change (a 4xx other than 408 and 429, an address the guard refuses, no SMTP server),
anything else is transient and retried.
"""

from __future__ import annotations

import asyncio
import json
from email.message import EmailMessage
from typing import Any

import httpx

from catalog.alerting.sinks import smtp_send
from catalog.db.models import CatalogEvent, Subscription
from catalog.notify.signing import HEADER, signature
from catalog.notify.targets import AllowList, TargetRefused, resolve_target
from catalog.settings import Settings

RETRIED_STATUSES = frozenset({408, 429})
USER_AGENT = "catalog-notify/1"


class Permanent(Exception):
    """A failure a retry cannot mend: the delivery is dead-lettered at once."""

    def __init__(self, reason: str, status: int | None = None) -> None:
        super().__init__(reason)
        self.status = status


class Transient(Exception):
    def __init__(self, reason: str, status: int | None = None) -> None:
        super().__init__(reason)
        self.status = status


def document(event: CatalogEvent, public_url: str) -> dict[str, Any]:
    """The event as subscribers receive it: its link made absolute when the UI's address
    is configured."""
    body = dict(event.body)
    body["link"] = public_url.rstrip("/") + body["link"] if public_url else body["link"]
    return body


def summary(body: dict[str, Any]) -> str:
    subject = body["subject"]
    name = subject.get("product_name") or subject.get("name") or subject.get("id")
    payload = body["payload"]
    kind = body["type"]
    if kind == "product.version_published":
        breaking = " (breaking)" if payload.get("breaking") else ""
        return f"{name}: version {payload.get('version')} published{breaking}"
    if kind == "product.deprecated":
        what = f"version {payload['version']}" if payload.get("version") else "the product"
        return f"{name}: {what} deprecated: {payload.get('reason', '')}"
    if kind == "product.schema_changed":
        return f"{name}: schema changed in version {payload.get('version')}"
    if kind == "product.quality_dropped":
        return f"{name}: quality of {payload.get('element_name')} fell to {payload.get('score')}"
    if kind == "regulatory_schema.version_added":
        return f"{name}: version {payload.get('version')} added"
    if kind.startswith("access_request."):
        state = kind.split(".", 1)[1]
        return f"{name}: access request of {payload.get('requester')} {state}"
    return f"{kind}: {name}"


class Channels:
    """Sends one event to one subscription over its channel."""

    def __init__(self, settings: Settings, http: httpx.AsyncClient) -> None:
        self.settings = settings
        self.http = http
        self.allow = AllowList.parse(settings.notify_allowed_hosts)

    async def send(self, subscription: Subscription, event: CatalogEvent, now: float) -> int | None:
        body = document(event, self.settings.notify_public_url)
        if subscription.channel == "email":
            await self._email(subscription, body)
            return None
        raw = json.dumps(body if subscription.channel == "webhook" else _slack(body)).encode()
        headers = {"content-type": "application/json", "user-agent": USER_AGENT}
        if subscription.channel == "webhook":
            headers["x-catalog-event-id"] = body["id"]
            headers["x-catalog-event-type"] = body["type"]
            headers[HEADER.lower()] = signature(subscription.secret or "", int(now), raw)
        return await self._post(subscription.url or "", raw, headers)

    async def _post(self, url: str, raw: bytes, headers: dict[str, str]) -> int:
        try:
            target = await resolve_target(url, self.allow)  # again: DNS may have changed
        except TargetRefused as refused:
            raise Permanent(str(refused)) from None
        headers["host"] = target.host_header
        response = await self.http.post(
            target.pinned_url(),
            content=raw,
            headers=headers,
            extensions={"sni_hostname": target.host},
            timeout=self.settings.notify_timeout_s,
        )
        status = response.status_code
        if status < 300:
            return status
        reason = f"HTTP {status}: {response.text[:200]}"
        if 400 <= status < 500 and status not in RETRIED_STATUSES:
            raise Permanent(reason, status)
        raise Transient(reason, status)

    async def _email(self, subscription: Subscription, body: dict[str, Any]) -> None:
        settings = self.settings
        if not settings.alert_smtp_host:
            raise Permanent("no SMTP server is configured (CATALOG_ALERT_SMTP_HOST)")
        message = EmailMessage()
        message["Subject"] = f"[catalog] {summary(body)}"
        message["From"] = settings.alert_email_from
        message["To"] = subscription.email or ""
        message["X-Catalog-Event-Id"] = body["id"]
        message.set_content(
            f"{summary(body)}\n\n{body['link']}\n\n{json.dumps(body, indent=2, sort_keys=True)}"
        )
        await asyncio.to_thread(smtp_send, settings, message, settings.notify_timeout_s)


def _slack(body: dict[str, Any]) -> dict[str, Any]:
    text = summary(body)
    link = body["link"]
    return {
        "text": text,
        "blocks": [
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": f"*{body['type']}*\n{text}\n<{link}|Open>"},
            }
        ],
    }


def endpoint_of(subscription: Subscription) -> str:
    """The circuit breaker's key: one per webhook host and port, one for SMTP."""
    if subscription.channel == "email":
        return "smtp"
    url = httpx.URL(subscription.url or "")
    return f"{url.host}:{url.port or (443 if url.scheme == 'https' else 80)}"
