"""Access requests: a requester asks for a data product; a steward approves or rejects it,
and may later revoke an approval; the requester (or a steward) may cancel while pending.

Every status change is one conditional UPDATE (`... WHERE status = 'pending'`), so concurrent
decisions on one request cannot both succeed, and the product's counters move only for the
one that did.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from catalog.access import schemas
from catalog.access.repository import AccessRepository
from catalog.changes.events import EventType, Routing, emit
from catalog.core.errors import Conflict, Forbidden
from catalog.core.time import isoformat_z, utcnow
from catalog.db.models import AccessRequest, DataProduct
from catalog.identity.principal import ANONYMOUS, Actor
from catalog.kit.pagination import PageParams
from catalog.kit.rows import row_dict
from catalog.kit.service import DomainService, must_exist
from catalog.products.visibility import visible_product
from catalog.usage.repository import UsageRepository

KIND = "access_request"
STEWARD = "steward"
INBOX_LINK = "/ui/access/inbox"  # where stewards decide (ui/access.py)
REQUESTS_LINK = "/ui/access"  # where a requester follows their requests


class AccessService(DomainService):
    def __init__(self, session: AsyncSession, actor: Actor) -> None:
        super().__init__(session, actor)
        self.requests = AccessRepository(session)
        self.usage = UsageRepository(session)

    async def create(
        self, body: schemas.AccessRequestCreate, requester_id: str | None = None
    ) -> AccessRequest:
        """A new pending request by the caller (or, without authentication, by `requester_id`
        when an upstream client names one); one pending request per requester and product.

        The product's `access_requests` counter is bumped first: that upsert locks the
        product's stats row, so two concurrent requests by the same requester for the same
        product queue there and the second one sees the first in the duplicate check
        (SQLite serialises writers anyway). A refused request rolls the bump back.
        """
        requester = self._requester(requester_id)
        product = await visible_product(self.session, self.actor, body.product_id)
        await self.usage.bump(body.product_id, {"access_requests": 1})
        existing = await self.requests.pending_of(body.product_id, requester)
        if existing is not None:
            raise Conflict(
                f"{requester} already has a pending access request ({existing}) "
                f"for data product {body.product_id}"
            )
        request = await self.requests.add(
            AccessRequest(
                product_id=body.product_id,
                requester=requester,
                requester_team=body.requester_team,
                reason=body.reason,
                comments=body.comments,
                status="pending",
                requested_at=utcnow(),
                expires_at=body.expires_at,
            )
        )
        self.audit.record("create", KIND, request.id, after=row_dict(request))
        self._announce("access_request.created", request, product, INBOX_LINK)
        return request

    def _requester(self, named: str | None) -> str:
        """Who asks. An authenticated caller only ever asks in their own name: naming someone
        else would be impersonation. Without authentication every caller is the same anonymous
        principal, so the name an upstream client gives is the only one there is."""
        if named is None or named == self.actor.subject:
            return self.actor.subject
        if self.actor.principal.kind == ANONYMOUS:
            return named
        raise Forbidden(
            f"requester_id {named!r} is not the caller ({self.actor.subject}); "
            "access is requested only in one's own name"
        )

    async def get(self, request_id: str) -> AccessRequest:
        return must_exist(await self.requests.get(request_id), "access request", request_id)

    async def list_requests(
        self, page: PageParams, **filters: str | None
    ) -> tuple[Sequence[AccessRequest], int]:
        statement = self.requests.list_statement(**filters)
        return await self.requests.paginate(statement, page.limit, page.offset)

    async def approve(self, request_id: str, comments: str | None) -> AccessRequest:
        return await self._decide(request_id, "approved", "approved_access", comments)

    async def reject(self, request_id: str, comments: str | None) -> AccessRequest:
        return await self._decide(request_id, "rejected", "rejected_access", comments)

    async def _decide(
        self, request_id: str, outcome: str, counter: str, comments: str | None
    ) -> AccessRequest:
        request = await self._move(
            request_id,
            "pending",
            outcome,
            decided_by=self.actor.subject,
            decided_at=utcnow(),
            decision_comments=comments,
        )
        await self.usage.bump(request.product_id, {counter: 1})
        product = await self.session.get(DataProduct, request.product_id)
        if product is not None:
            self._announce("access_request.decided", request, product, REQUESTS_LINK)
        return request

    async def revoke(self, request_id: str, comments: str | None) -> AccessRequest:
        return await self._move(
            request_id,
            "approved",
            "revoked",
            revoked_by=self.actor.subject,
            revoked_at=utcnow(),
            revoke_comments=comments,
        )

    async def cancel(self, request_id: str) -> AccessRequest:
        """Withdraw a pending request: its requester may, and so may a steward or above."""
        request = await self.get(request_id)
        if request.requester != self.actor.subject and not self.actor.has_role(STEWARD):
            raise Forbidden(
                f"only the requester ({request.requester}) or a steward may cancel this request"
            )
        return await self._move(request_id, "pending", "cancelled")

    async def _move(
        self, request_id: str, from_status: str, to_status: str, **values: Any
    ) -> AccessRequest:
        request = await self.requests.move(request_id, from_status, to_status, **values)
        if request is None:
            current = await self.get(request_id)
            raise Conflict(
                f"access request {request_id} is {current.status}; only a {from_status} "
                f"request can become {to_status}"
            )
        action = {"approved": "approve", "rejected": "reject", "revoked": "revoke"}
        self.audit.record(
            action.get(to_status, "cancel"),
            KIND,
            request.id,
            before={"status": from_status},
            after=row_dict(request),
        )
        return request

    async def announce_expiring(self, now: datetime, horizon: datetime, limit: int) -> int:
        """Emit `access_request.expiring` once for each grant ending by `horizon`; how many."""
        found = await self.requests.expiring(now, horizon, limit)
        for request, product in found:
            request.expiry_noticed_at = now
            self._announce("access_request.expiring", request, product, REQUESTS_LINK)
        await self.session.flush()
        return len(found)

    def _announce(
        self, event_type: EventType, request: AccessRequest, product: DataProduct, link: str
    ) -> None:
        """The event of this request's news, for its requester and the product's stewards."""
        emit(
            self.session,
            event_type,
            actor=self.actor.subject,
            subject={
                "kind": KIND,
                "id": request.id,
                "product_id": product.id,
                "product_name": product.name,
            },
            payload={
                "requester": request.requester,
                "requester_team": request.requester_team,
                "reason": request.reason,
                "status": request.status,
                "expires_at": isoformat_z(request.expires_at) if request.expires_at else None,
                "decided_by": request.decided_by,
                "decision_comments": request.decision_comments,
            },
            link=link,
            routing=Routing.of(product, requester=request.requester),
        )
