"""Catalog events for people: what a committed write says happened, for notifications.

The change log (recorder.py) names the nodes a write changed, for projections that re-read
them; a notification needs more: what happened (a version published, a request decided), to
what, by whom, with the details a subscriber acts on. So a service that makes such a write
calls `emit()`, and the event goes out through the same outbox: the recorder appends it to
`catalog_events` just before the commit, in the write's transaction and behind the same
append lock, so a committed write always has its event, a rolled-back one never does, and
`seq` grows in commit order (notify/dispatcher.py follows it as the projections follow the
change log).

An event's body is the document subscribers receive:
`{"id", "type", "time", "actor", "subject": {kind, id, name, ...}, "link", "payload"}`. `link`
is the UI page's path; deliveries prefix it with CATALOG_NOTIFY_PUBLIC_URL.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

from catalog.core.ids import new_id
from catalog.core.time import isoformat_z, utcnow
from catalog.db.models import DataProduct

EventType = Literal[
    "product.version_published",
    "product.deprecated",
    "product.schema_changed",
    "product.quality_dropped",
    "access_request.created",
    "access_request.decided",
    "access_request.expiring",
    "regulatory_schema.version_added",
]
EVENT_TYPES: tuple[EventType, ...] = get_args(EventType)
# Events only stewards (and admins) of the product's team hear of, besides the requester.
STEWARD_EVENTS: frozenset[str] = frozenset({"access_request.created"})

PENDING = "changes_events"  # session.info: the events of this transaction, appended at commit


@dataclass(frozen=True)
class Routing:
    """Who may hear of an event: the product it is about (its team and visibility) and the
    person it concerns (an access request's requester)."""

    product_id: str | None = None
    team: str | None = None
    visibility: str | None = None
    requester: str | None = None

    @classmethod
    def of(cls, product: DataProduct, requester: str | None = None) -> Routing:
        return cls(product.id, product.team, product.visibility, requester)


def product_subject(product: DataProduct, **more: Any) -> dict[str, Any]:
    return {"kind": "data_product", "id": product.id, "name": product.name, **more}


def product_link(product_id: str) -> str:
    return f"/ui/products/{product_id}"


def emit(
    session: Any,
    event_type: EventType,
    *,
    actor: str,
    subject: dict[str, Any],
    payload: dict[str, Any],
    link: str,
    routing: Routing,
) -> str:
    """Queue an event for this transaction's commit; its id (the receivers' dedup key)."""
    event_id = f"evt_{new_id()}"
    now = utcnow()
    body = {
        "id": event_id,
        "type": event_type,
        "time": isoformat_z(now),
        "actor": actor,
        "subject": subject,
        "link": link,
        "payload": payload,
    }
    row = {
        "id": event_id,
        "type": event_type,
        "product_id": routing.product_id,
        "team": routing.team,
        "visibility": routing.visibility,
        "requester": routing.requester,
        "body": body,
        "created_at": now,
    }
    session.info.setdefault(PENDING, []).append(row)
    return event_id


def take_pending(session: Any) -> list[dict[str, Any]]:
    """The events queued in this transaction (and forget them: the recorder appends them)."""
    rows: list[dict[str, Any]] = session.info.pop(PENDING, [])
    return rows
