"""Which subscriptions hear of an event: its type, the subscription's scope, and whether the
subscriber may see what it is about.

A subscription acts with the rights its owner had when subscribing (role and team): a
restricted product's events reach only its team, stewards and admins (as `sees` rules the
API), and `access_request.created` only the stewards and admins of the product's team (a
request waits for them, not for other consumers). A decision or an expiry reaches the
requester (when their subscription's scope covers the product) and stewards.
"""

from __future__ import annotations

from collections.abc import Iterable

from catalog.changes.events import STEWARD_EVENTS
from catalog.db.models import CatalogEvent, Subscription
from catalog.identity.principal import Actor, Principal, sees


def owner_of(subscription: Subscription) -> Actor:
    return Actor(
        Principal(
            subject=subscription.owner,
            role=subscription.owner_role,
            team=subscription.owner_team,
            kind=subscription.owner_kind,
        )
    )


def in_scope(subscription: Subscription, event: CatalogEvent, tags: set[str]) -> bool:
    """Whether the event is about what the subscription is scoped to (`tags`: the event's
    product's tags and every tag above them)."""
    if subscription.product_id is not None:
        return event.product_id == subscription.product_id
    if subscription.tag_id is not None:
        return subscription.tag_id in tags
    if subscription.team is not None:
        return event.team == subscription.team
    return True


def may_hear(subscription: Subscription, event: CatalogEvent) -> bool:
    owner = owner_of(subscription)
    if event.requester is not None and event.requester == owner.subject:
        return True  # their own request
    if event.product_id is not None and not sees(owner, event.visibility or "public", event.team):
        return False
    if event.type in STEWARD_EVENTS:
        principal = owner.principal
        return owner.has_role("admin") or (
            owner.has_role("steward")
            and principal.team is not None
            and principal.team == event.team
        )
    if event.type.startswith("access_request."):
        return owner.has_role("steward")  # a decision or expiry: the requester's and stewards'
    return True


def audience(
    event: CatalogEvent, subscriptions: Iterable[Subscription], tags: set[str]
) -> list[Subscription]:
    """The subscriptions this event is delivered to."""
    return [
        s
        for s in subscriptions
        if (not s.event_types or event.type in s.event_types)
        and s.created_at <= event.created_at
        and in_scope(s, event, tags)
        and may_hear(s, event)
    ]
