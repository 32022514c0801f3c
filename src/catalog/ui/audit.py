"""The audit page (`/ui/audit`): the write trail behind `GET /api/audit/events`, newest first,
narrowed by a GET form and paged by offset links.

Stewards and admins, as the API's `GET /api/audit/events` (the layout links it for them
alone). The form sends every field, empty ones too, so the filters are read as plain strings
here (empty = no filter) instead of the API's `min_length=1` parameters; dates are whole UTC
days, both ends inclusive.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request, Response

from catalog.audit.service import AuditService, TimeRange
from catalog.core.errors import Unprocessable
from catalog.db.models import AuditEvent
from catalog.kit.pagination import MAX_OFFSET, PageParams
from catalog.server.deps import Session
from catalog.server.roles import Steward
from catalog.ui.web import UiRoute, render

router = APIRouter(route_class=UiRoute, include_in_schema=False)
PAGE_SIZE = 50
Text = Annotated[str, Query(max_length=200)]
Day = Annotated[str, Query(max_length=40)]
# The text filters, named as AuditService.list_events takes them.
FILTERS = ("actor", "action", "resource_type", "resource_id", "request_id")


def _day(value: str, end: bool) -> datetime | None:
    """A `YYYY-MM-DD` from the date field as the first (or last) instant of that UTC day."""
    if not value:
        return None
    day = date.fromisoformat(value)
    return datetime.combine(day, time.max if end else time.min, tzinfo=UTC)


def changes(event: AuditEvent) -> str:
    """The event's before/after/details as indented JSON, for a <details> block."""
    shown = {
        key: value
        for key, value in (
            ("before", event.before),
            ("after", event.after),
            ("details", event.details),
        )
        if value
    }
    return json.dumps(shown, indent=2, sort_keys=True, default=str) if shown else ""


@router.get("/ui/audit")
async def audit_page(
    request: Request,
    session: Session,
    actor: Steward,
    actor_name: Annotated[str, Query(alias="actor", max_length=200)] = "",
    action: Text = "",
    resource_type: Text = "",
    resource_id: Text = "",
    request_id: Text = "",
    since: Day = "",
    until: Day = "",
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> Response:
    form = {
        "actor": actor_name.strip(),
        "action": action.strip(),
        "resource_type": resource_type.strip(),
        "resource_id": resource_id.strip(),
        "request_id": request_id.strip(),
        "since": since.strip(),
        "until": until.strip(),
    }
    kept = {name: value for name, value in form.items() if value}
    prefix = "/ui/audit?" + urlencode({**kept, "offset": ""})
    context: dict[str, Any] = {
        "form": form,
        "offset": offset,
        "limit": PAGE_SIZE,
        "prefix": prefix,
        "changes": changes,
    }
    try:
        window = TimeRange(_day(form["since"], False), _day(form["until"], True))
    except (ValueError, Unprocessable):
        error = "Dates are written YYYY-MM-DD, and the first must not be after the last."
        return render(request, "audit.html", status=400, error=error, events=[], total=0, **context)
    filters = {name: form[name] or None for name in FILTERS}
    events, total = await AuditService(session, actor).list_events(
        PageParams(PAGE_SIZE, offset), window, **filters
    )
    return render(request, "audit.html", error=None, events=events, total=total, **context)
