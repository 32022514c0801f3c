"""Subscriptions: who may subscribe to what, list, delete and replay.

Anyone who may read the catalog may subscribe (viewer and up), to a product they can see, a
tag, a team, or everything; what reaches them is still only what they may see (audience.py).
Each caller manages their own subscriptions; admins see and delete everyone's, and so manage
team-wide ones (a team's shared webhook or channel, subscribed by an admin). A webhook's
address passes the SSRF guard at once (422 otherwise); its secret is kept to sign and shown
only in the answer that created it.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from catalog.core.clock import Clock
from catalog.core.errors import Forbidden, NotFound, Unprocessable
from catalog.db.models import Subscription
from catalog.identity.principal import Actor
from catalog.kit.pagination import PageParams
from catalog.kit.rows import row_dict
from catalog.kit.service import DomainService
from catalog.notify import schemas
from catalog.notify.repository import DeliveryRepository, SubscriptionRepository
from catalog.notify.targets import AllowList, TargetRefused, TargetUnresolved, resolve_target
from catalog.products.visibility import visible_product
from catalog.settings import Settings

KIND = "subscription"


class SubscriptionService(DomainService):
    def __init__(
        self, session: AsyncSession, actor: Actor, settings: Settings, clock: Clock
    ) -> None:
        super().__init__(session, actor)
        self.settings = settings
        self.clock = clock  # the app's: the worker compares these times with its own
        self.subscriptions = SubscriptionRepository(session)
        self.deliveries = DeliveryRepository(session)

    async def create(self, body: schemas.SubscriptionCreate) -> tuple[Subscription, str | None]:
        """The new subscription, and its signing secret when it is a webhook's."""
        if body.product_id is not None:
            try:
                await visible_product(self.session, self.actor, body.product_id)
            except NotFound:
                raise Unprocessable(f"product_id: no data product {body.product_id}") from None
        tag_id = None
        if body.tag is not None:
            tag_id = await self.subscriptions.tag_named(body.tag)
            if tag_id is None:
                raise Unprocessable(f"tag: no tag {body.tag!r}")
        if body.url is not None:
            await self._check_target(body.url)
        if body.channel == "email" and not self.settings.alert_smtp_host:
            raise Unprocessable(
                "channel: email needs an SMTP server (CATALOG_ALERT_SMTP_HOST), and none is set"
            )
        secret = None
        if body.channel == "webhook":
            secret = body.secret or secrets.token_urlsafe(32)
        principal = self.actor.principal
        subscription = await self.subscriptions.add(
            Subscription(
                owner=principal.subject,
                owner_role=principal.role,
                owner_team=principal.team,
                owner_kind=principal.kind,
                product_id=body.product_id,
                tag_id=tag_id,
                team=body.team,
                event_types=sorted(set(body.event_types)),
                channel=body.channel,
                url=body.url,
                secret=secret,
                email=body.email,
                created_at=self.clock.now(),
            )
        )
        self.audit.record(
            "create", KIND, subscription.id, after=row_dict(subscription, exclude=("secret",))
        )
        return subscription, secret

    async def _check_target(self, url: str) -> None:
        allow = AllowList.parse(self.settings.notify_allowed_hosts)
        try:
            await resolve_target(url, allow)
        except (TargetRefused, TargetUnresolved) as refused:
            raise Unprocessable(f"url: {refused}") from None

    async def list_subscriptions(
        self, page: PageParams, everyone: bool
    ) -> tuple[Sequence[Subscription], int]:
        if everyone and not self.actor.has_role("admin"):
            raise Forbidden("only admins list everyone's subscriptions")
        statement = self.subscriptions.list_statement(None if everyone else self.actor.subject)
        return await self.subscriptions.paginate(statement, page.limit, page.offset)

    async def get(self, subscription_id: str) -> Subscription:
        """The caller's subscription (any, for an admin); 404 for another's."""
        found = await self.subscriptions.get(subscription_id)
        if found is not None and (
            found.owner == self.actor.subject or self.actor.has_role("admin")
        ):
            return found
        raise NotFound(KIND, subscription_id)

    async def delete(self, subscription_id: str) -> None:
        subscription = await self.get(subscription_id)
        before = row_dict(subscription, exclude=("secret",))  # never into the audit trail
        await self.subscriptions.delete(subscription)
        self.audit.record("delete", KIND, subscription.id, before=before)

    async def replay(self, subscription_id: str, since: datetime) -> int:
        subscription = await self.get(subscription_id)
        requeued = await self.deliveries.replay(subscription.id, since, self.clock.now())
        self.audit.record(
            "replay",
            KIND,
            subscription.id,
            details={"since": since.isoformat(), "requeued": requeued},
        )
        return requeued

    async def list_deliveries(
        self, subscription_id: str, status: str | None, page: PageParams
    ) -> tuple[Sequence[Any], int]:
        subscription = await self.get(subscription_id)
        statement = self.deliveries.list_statement(subscription.id, status)
        return await self.deliveries.paginate_rows(statement, page.limit, page.offset)
