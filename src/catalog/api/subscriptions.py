"""HTTP routes of notifications: subscribe, list, unsubscribe, follow deliveries, replay the
dead-lettered ones (notify/)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from catalog.core.error_schema import error_responses
from catalog.identity.principal import Actor
from catalog.kit.pagination import Page, Paging
from catalog.kit.projection import page_of
from catalog.kit.schemas import AwareDatetime
from catalog.notify import schemas
from catalog.notify.service import SubscriptionService
from catalog.server.deps import ResourcesDep, Session
from catalog.server.retrying_route import RetryingRoute
from catalog.server.roles import Viewer

SUBSCRIPTIONS = "/api/subscriptions"
SUBSCRIPTION = SUBSCRIPTIONS + "/{subscription_id}"
NOT_FOUND = error_responses(404)

router = APIRouter(tags=["notifications"], route_class=RetryingRoute)


def service(session: Session, actor: Actor, resources: ResourcesDep) -> SubscriptionService:
    return SubscriptionService(session, actor, resources.settings, resources.clock)


@router.post(SUBSCRIPTIONS, status_code=201, responses=error_responses(422))
async def subscribe(
    body: schemas.SubscriptionCreate, session: Session, actor: Viewer, resources: ResourcesDep
) -> schemas.SubscriptionCreated:
    """Hear of catalog events on a product, a tag (and its subtree), a team or everything you
    may see, by signed webhook, Slack or email. A webhook's signing secret is in this answer
    only (made for you when you give none)."""
    subscription, secret = await service(session, actor, resources).create(body)
    created = schemas.SubscriptionCreated.model_validate(subscription)
    return created.model_copy(update={"secret": secret})


@router.get(
    SUBSCRIPTIONS, response_model=Page[schemas.SubscriptionOut], responses=error_responses(403)
)
async def list_subscriptions(
    session: Session,
    actor: Viewer,
    resources: ResourcesDep,
    page: Paging,
    everyone: Annotated[bool, Query(alias="all", description="admins: everyone's")] = False,
) -> Any:
    """Your subscriptions (an admin's `?all=true`: everyone's)."""
    rows, total = await service(session, actor, resources).list_subscriptions(page, everyone)
    return page_of(schemas.SubscriptionOut, rows, total, page)


@router.get(SUBSCRIPTION, responses=NOT_FOUND)
async def get_subscription(
    subscription_id: str, session: Session, actor: Viewer, resources: ResourcesDep
) -> schemas.SubscriptionOut:
    found = await service(session, actor, resources).get(subscription_id)
    return schemas.SubscriptionOut.model_validate(found)


@router.delete(SUBSCRIPTION, status_code=204, responses=NOT_FOUND)
async def unsubscribe(
    subscription_id: str, session: Session, actor: Viewer, resources: ResourcesDep
) -> None:
    """Stop it; its pending deliveries go with it."""
    await service(session, actor, resources).delete(subscription_id)


@router.get(
    SUBSCRIPTION + "/deliveries", response_model=Page[schemas.DeliveryOut], responses=NOT_FOUND
)
async def list_deliveries(
    subscription_id: str,
    session: Session,
    actor: Viewer,
    resources: ResourcesDep,
    page: Paging,
    status: schemas.DeliveryStatus | None = None,
) -> Any:
    """Its deliveries, newest first; `?status=dead` is the dead-letter list."""
    rows, total = await service(session, actor, resources).list_deliveries(
        subscription_id, status, page
    )
    return page_of(schemas.DeliveryOut, rows, total, page)


@router.post(SUBSCRIPTION + "/replay", responses=error_responses(404, 422))
async def replay(
    subscription_id: str,
    session: Session,
    actor: Viewer,
    resources: ResourcesDep,
    since: Annotated[AwareDatetime, Query(description="events made at or after this time")],
) -> schemas.ReplayOut:
    """Queue this subscription's dead-lettered deliveries of events since `since` again (the
    same event ids: receivers that deduplicate see each once)."""
    requeued = await service(session, actor, resources).replay(subscription_id, since)
    return schemas.ReplayOut(requeued=requeued)
