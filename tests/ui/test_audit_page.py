"""The audit page through HTTP: the writes just done, newest first, filters, pages, roles."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from httpx import AsyncClient

from catalog.app import create_app
from tests.conftest import base_settings
from tests.support.api import create_product, ok
from tests.ui.test_access_pages import ask, bearer, decide, page, tokens_file

Opener = Callable[[FastAPI], Awaitable[AsyncClient]]


def events_of(html: str) -> list[tuple[str, str, str]]:
    """(action, entity type, entity id) of every row of #audit-events, in page order."""
    table = re.search(r'<table class="data" id="audit-events">(.*?)</table>', html, re.DOTALL)
    if table is None:
        return []
    rows = re.findall(
        r'<td class="action">([^<]*)</td>\s*<td class="entity"><span class="entity-type">'
        r"([^<]*)</span>\s*(?:<br>(?:<a [^>]*>|<code>)([^<]*))?",
        table.group(1),
    )
    return [(action, kind, entity) for action, kind, entity in rows]


async def test_the_writes_just_done_newest_first_and_filtered(client: AsyncClient) -> None:
    product = await create_product(client, name="Audited ledger")
    asked = await ask(client, product["id"])
    assert (await decide(client, asked["id"], "approve", "ok")).status_code == 303

    html = await page(client, "/ui/audit")
    events = events_of(html)
    assert events[:3] == [
        ("approve", "access_request", asked["id"]),
        ("create", "access_request", asked["id"]),
        ("create", "data_product", product["id"]),
    ]
    assert f'<a href="/ui/products/{product["id"]}">' in html
    assert '<label for="audit-action">Action</label>' in html
    assert "anonymous" in html

    approvals = await page(client, "/ui/audit?action=approve&actor=&resource_type=&since=")
    assert events_of(approvals) == [("approve", "access_request", asked["id"])]
    assert 'id="audit-action" name="action" value="approve"' in approvals
    assert "1 event<" in approvals

    products = events_of(await page(client, "/ui/audit?resource_type=data_product"))
    assert products == [("create", "data_product", product["id"])]
    one = events_of(await page(client, f"/ui/audit?resource_id={asked['id']}"))
    assert [action for action, _, _ in one] == ["approve", "create"]

    stamps = ok(await client.get("/api/audit/events", params={"limit": 3}))["items"]
    request_id = stamps[0]["request_id"]
    assert f'href="/ui/audit?request_id={request_id}"' in html
    by_request = events_of(await page(client, f"/ui/audit?request_id={request_id}"))
    assert by_request == [("approve", "access_request", asked["id"])]
    first_day, last_day = (stamps[-1]["timestamp"][:10], stamps[0]["timestamp"][:10])
    next_day = (date.fromisoformat(last_day) + timedelta(days=1)).isoformat()
    later = await page(client, f"/ui/audit?since={next_day}")
    assert events_of(later) == []
    assert "No event matches these filters." in later
    during = await page(client, f"/ui/audit?since={first_day}&until={last_day}")
    assert events_of(during) == events[:3]
    before = (date.fromisoformat(first_day) - timedelta(days=1)).isoformat()
    assert events_of(await page(client, f"/ui/audit?until={before}")) == []


async def test_bad_dates_are_shown_back_with_a_message(sqlite_client: AsyncClient) -> None:
    for query in ("since=yesterday", "since=2026-02-02&until=2026-01-01"):
        html = await page(sqlite_client, f"/ui/audit?{query}", status=400)
        assert 'role="alert"' in html
        assert "Dates are written YYYY-MM-DD" in html


async def test_offset_links_page_through_the_events(
    sqlite_client: AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("catalog.ui.audit.PAGE_SIZE", 2)
    made = [(await create_product(sqlite_client))["id"] for _ in range(3)]

    first = await page(sqlite_client, "/ui/audit?resource_type=data_product")
    assert [entity for _, _, entity in events_of(first)] == [made[2], made[1]]
    assert "1\u20132 of 3" in first  # an en dash between the numbers
    assert 'rel="next" href="/ui/audit?resource_type=data_product&amp;offset=2"' in first
    second = await page(sqlite_client, "/ui/audit?resource_type=data_product&offset=2")
    assert [entity for _, _, entity in events_of(second)] == [made[0]]
    assert 'rel="prev" href="/ui/audit?resource_type=data_product&amp;offset=0"' in second
    assert 'rel="next"' not in second


@pytest.fixture
async def auth_client(sqlite_url: str, tmp_path: Path, open_client: Opener) -> AsyncClient:
    settings = base_settings(
        sqlite_url, enable_auth=True, auth_tokens_file=tokens_file(tmp_path / "tokens")
    )
    return await open_client(create_app(settings))


async def test_stewards_and_admins_see_the_audit_page(auth_client: AsyncClient) -> None:
    # As the API: `GET /api/audit/events` needs the steward role.
    product = await create_product(auth_client, headers=bearer("editor"))
    for who in ("viewer", "editor"):
        refused = await page(auth_client, "/ui/audit", bearer(who), status=403)
        assert "this needs the steward role" in refused
        assert 'href="/ui/audit"' not in refused  # nor is it in the menu
    for who in ("steward", "admin"):
        html = await page(auth_client, "/ui/audit", bearer(who))
        assert ("create", "data_product", product["id"]) in events_of(html)
        assert "eddie" in html
        assert 'href="/ui/audit"' in html
