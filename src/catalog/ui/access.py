"""The access pages: a person's own requests (`/ui/access`) and the steward inbox
(`/ui/access/inbox`), with the forms that cancel, approve, reject and revoke.

Every list and move goes through `AccessService` with the API's role dependencies, so the
pages allow and show exactly what `/api/access-requests` does.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.access.schemas import Decision
from catalog.access.service import AccessService
from catalog.core.errors import CatalogError
from catalog.db.models import AccessRequest
from catalog.identity.principal import Actor
from catalog.kit.pagination import MAX_OFFSET, PageParams
from catalog.kit.schemas import TEXT_MAX
from catalog.products.service import ProductService
from catalog.server.deps import Session
from catalog.server.roles import Steward, Viewer
from catalog.ui.web import UiRoute, field, form_of, render, see_other

router = APIRouter(route_class=UiRoute, include_in_schema=False)
PAGE_SIZE = 50
INBOX = "/ui/access/inbox"
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET)]


async def product_names(
    session: AsyncSession, actor: Actor, rows: Iterable[AccessRequest]
) -> dict[str, str]:
    """Names of the products the rows name, for those the caller may still see (a product
    made restricted since is shown by its id only, as the API would not admit it)."""
    return await ProductService(session, actor).visible_names(row.product_id for row in rows)


@router.get("/ui/access")
async def my_requests(
    request: Request, session: Session, actor: Viewer, offset: Offset = 0
) -> Response:
    access = AccessService(session, actor)
    rows, total = await access.list_requests(PageParams(PAGE_SIZE, offset), requester=actor.subject)
    return render(
        request,
        "access.html",
        requests=rows,
        total=total,
        offset=offset,
        limit=PAGE_SIZE,
        names=await product_names(session, actor, rows),
        is_steward=actor.has_role("steward"),
    )


@router.post("/ui/access/{request_id}/cancel")
async def cancel(request_id: str, request: Request, session: Session, actor: Viewer) -> Response:
    """The requester withdraws a pending request (a steward may too, as in the API)."""
    await form_of(request)
    await AccessService(session, actor).cancel(request_id)
    return see_other("/ui/access")


async def _inbox(
    request: Request,
    session: AsyncSession,
    actor: Actor,
    offset: int = 0,
    approved_offset: int = 0,
    error: str | None = None,
    status: int = 200,
) -> Response:
    access = AccessService(session, actor)
    pending, pending_total = await access.list_requests(
        PageParams(PAGE_SIZE, offset), status="pending"
    )
    approved, approved_total = await access.list_requests(
        PageParams(PAGE_SIZE, approved_offset), status="approved"
    )
    return render(
        request,
        "access_inbox.html",
        status=status,
        error=error,
        pending=pending,
        pending_total=pending_total,
        approved=approved,
        approved_total=approved_total,
        offset=offset,
        approved_offset=approved_offset,
        limit=PAGE_SIZE,
        comment_max=TEXT_MAX,
        names=await product_names(session, actor, [*pending, *approved]),
    )


@router.get(INBOX)
async def inbox(
    request: Request,
    session: Session,
    actor: Steward,
    offset: Offset = 0,
    approved_offset: Offset = 0,
) -> Response:
    """Pending requests to decide (oldest first, as the API lists them) and approved ones to
    revoke; stewards decide on every product, so nothing is filtered by team."""
    return await _inbox(request, session, actor, offset, approved_offset)


@router.post("/ui/access/{request_id}/decide")
async def decide(request_id: str, request: Request, session: Session, actor: Steward) -> Response:
    """Approve, reject or revoke with the same service calls as the API's three routes. A
    refusal (unknown decision, comment too long, already decided, not found) shows the inbox
    again with the reason and the refusal's status; nothing of the attempt is kept."""
    form = await form_of(request)
    access = AccessService(session, actor)
    moves: dict[str, Callable[[str, str | None], Awaitable[AccessRequest]]] = {
        "approve": access.approve,
        "reject": access.reject,
        "revoke": access.revoke,
    }
    move = moves.get(field(form, "decision"))
    if move is None:
        return await _inbox(
            request, session, actor, error="Choose approve, reject or revoke.", status=400
        )
    try:
        comments = Decision(comments=field(form, "comment") or None).comments
    except ValidationError as exc:
        message = "; ".join(str(error["msg"]) for error in exc.errors())
        return await _inbox(
            request, session, actor, error=f"The comment is not valid: {message}", status=422
        )
    try:
        await move(request_id, comments)
    except CatalogError as exc:
        await session.rollback()
        return await _inbox(request, session, actor, error=exc.details, status=exc.status)
    return see_other(INBOX)
