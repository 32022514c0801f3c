"""The access pages through HTTP: own requests, the steward inbox, and its forms."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient, Response

from catalog.app import create_app
from tests.conftest import base_settings
from tests.support.api import create_product, ok

Opener = Callable[[FastAPI], Awaitable[AsyncClient]]
TOKENS = {
    "viewer": ("viewer-secret-1", "vera", "viewer", "finance"),
    "editor": ("editor-secret-3", "eddie", "editor", "finance"),
    "steward": ("steward-secret-4", "stella", "steward", None),
    "admin": ("admin-secret-5", "ada", "admin", None),
}


def bearer(who: str) -> dict[str, str]:
    return {"authorization": f"Bearer {TOKENS[who][0]}"}


def tokens_file(path: Path) -> Path:
    lines = []
    for token, subject, role, team in TOKENS.values():
        digest = hashlib.sha256(token.encode()).hexdigest()
        lines.append(f"{digest} {subject} {role}" + (f" {team}" if team else ""))
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
async def auth_client(sqlite_url: str, tmp_path: Path, open_client: Opener) -> AsyncClient:
    settings = base_settings(
        sqlite_url, enable_auth=True, auth_tokens_file=tokens_file(tmp_path / "tokens")
    )
    return await open_client(create_app(settings))


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "the page has a CSRF field"
    return found.group(1)


def row_of(html: str, request_id: str) -> str:
    """The table row of one request (empty when the page does not show it)."""
    found = re.search(rf'<tr id="request-{request_id}">(.*?)</tr>', html, re.DOTALL)
    return found.group(1) if found else ""


def status_in(row: str) -> str:
    found = re.search(r'<td class="status">([^<]*)</td>', row)
    assert found, row
    return found.group(1)


def section(html: str, section_id: str) -> str:
    found = re.search(rf'<section id="{section_id}".*?</section>', html, re.DOTALL)
    assert found, section_id
    return found.group(0)


async def ask(
    client: AsyncClient, product_id: str, headers: dict[str, str] | None = None, **fields: Any
) -> dict[str, Any]:
    body = {"product_id": product_id, "reason": "quarterly report"} | fields
    answer = await client.post("/api/access-requests", json=body, headers=headers)
    return ok(answer, 201)  # type: ignore[no-any-return]


async def page(
    client: AsyncClient, url: str, headers: dict[str, str] | None = None, status: int = 200
) -> str:
    answer = await client.get(url, headers=headers)
    assert answer.status_code == status, f"{answer.status_code}: {answer.text[:2000]}"
    assert answer.headers["content-type"].startswith("text/html")
    return answer.text


async def decide(
    client: AsyncClient,
    request_id: str,
    decision: str,
    comment: str = "",
    headers: dict[str, str] | None = None,
    csrf: str | None = None,
) -> Response:
    """Post the inbox's form, with the token of the inbox as it shows now (or the one given:
    a page loaded earlier)."""
    csrf = csrf or csrf_of(await page(client, "/ui/access/inbox", headers))
    form = {"decision": decision, "comment": comment, "csrf": csrf}
    return await client.post(f"/ui/access/{request_id}/decide", data=form, headers=headers)


async def test_my_requests_list_each_with_its_status_and_product_link(client: AsyncClient) -> None:
    first = await create_product(client, name="Ledger <b>daily</b>")
    second = await create_product(client)
    kept = await ask(client, first["id"], reason="audit <script>x</script>")
    decided = await ask(client, second["id"])
    refusal = {"comments": "not this quarter"}
    ok(await client.post(f"/api/access-requests/{decided['id']}/reject", json=refusal))

    html = await page(client, "/ui/access")
    mine = section(html, "my-requests")
    row = row_of(mine, kept["id"])
    assert status_in(row) == "pending"
    assert f'<a href="/ui/products/{first["id"]}">Ledger &lt;b&gt;daily&lt;/b&gt;</a>' in row
    assert "audit &lt;script&gt;x&lt;/script&gt;" in row
    assert f'action="/ui/access/{kept["id"]}/cancel"' in row
    other = row_of(mine, decided["id"])
    assert status_in(other) == "rejected"
    assert "not this quarter" in other
    assert "/cancel" not in other
    assert 'href="/ui/access/inbox"' in html  # anonymous is admin without auth


async def test_approve_through_the_inbox_form(client: AsyncClient) -> None:
    product = await create_product(client)
    asked = await ask(client, product["id"], requester_team="risk")
    inbox = section(await page(client, "/ui/access/inbox"), "inbox")
    row = row_of(inbox, asked["id"])
    assert status_in(row) == "pending"
    assert "anonymous" in row
    assert "risk" in row
    assert "quarterly report" in row
    assert f'<label for="comment-{asked["id"]}">' in row
    assert 'name="decision" value="approve"' in row
    assert 'name="decision" value="reject"' in row

    answer = await decide(client, asked["id"], "approve", "fine <i>for Q3</i>")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/ui/access/inbox"
    stored = ok(await client.get(f"/api/access-requests/{asked['id']}"))
    assert stored["status"] == "approved"
    assert stored["decision_comments"] == "fine <i>for Q3</i>"

    html = await page(client, "/ui/access/inbox")
    assert row_of(section(html, "inbox"), asked["id"]) == ""
    approved = row_of(section(html, "approved"), asked["id"])
    assert status_in(approved) == "approved"
    assert "fine &lt;i&gt;for Q3&lt;/i&gt;" in approved
    assert 'value="revoke"' in approved
    assert status_in(row_of(await page(client, "/ui/access"), asked["id"])) == "approved"


async def test_reject_and_revoke_store_their_comments(client: AsyncClient) -> None:
    product = await create_product(client)
    other = await create_product(client)
    rejected = await ask(client, product["id"])
    revoked = await ask(client, other["id"])
    ok(await client.post(f"/api/access-requests/{revoked['id']}/approve"))

    assert (await decide(client, rejected["id"], "reject", "not this team")).status_code == 303
    assert (await decide(client, revoked["id"], "revoke", "project ended")).status_code == 303

    one = ok(await client.get(f"/api/access-requests/{rejected['id']}"))
    assert (one["status"], one["decision_comments"]) == ("rejected", "not this team")
    two = ok(await client.get(f"/api/access-requests/{revoked['id']}"))
    assert (two["status"], two["revoke_comments"]) == ("revoked", "project ended")
    mine = await page(client, "/ui/access")
    assert status_in(row_of(mine, rejected["id"])) == "rejected"
    assert "not this team" in row_of(mine, rejected["id"])
    assert status_in(row_of(mine, revoked["id"])) == "revoked"
    assert "project ended" in row_of(mine, revoked["id"])


async def test_a_decided_request_shows_the_inbox_with_the_conflict(client: AsyncClient) -> None:
    product = await create_product(client)
    asked = await ask(client, product["id"])
    csrf = csrf_of(await page(client, "/ui/access/inbox"))  # the steward opens the inbox...
    ok(await client.post(f"/api/access-requests/{asked['id']}/reject"))  # another decides

    answer = await decide(client, asked["id"], "approve", "late", csrf=csrf)
    assert answer.status_code == 409
    assert 'role="alert"' in answer.text
    assert f"access request {asked['id']} is rejected" in answer.text
    assert '<section id="inbox"' in answer.text
    stored = ok(await client.get(f"/api/access-requests/{asked['id']}"))
    assert (stored["status"], stored["decision_comments"]) == ("rejected", None)

    missing = await decide(client, "no-such-request", "approve", csrf=csrf)
    assert missing.status_code == 404
    assert 'role="alert"' in missing.text
    assert "no-such-request" in missing.text

    unknown = await decide(client, asked["id"], "delete", csrf=csrf)
    assert unknown.status_code == 400
    assert "Choose approve, reject or revoke." in unknown.text


async def test_posts_without_the_csrf_token_change_nothing(sqlite_client: AsyncClient) -> None:
    client = sqlite_client
    product = await create_product(client)
    asked = await ask(client, product["id"])
    await page(client, "/ui/access/inbox")  # the browser cookie is set, but no token is sent

    for form in ({"decision": "approve"}, {"decision": "approve", "csrf": "forged"}):
        answer = await client.post(f"/ui/access/{asked['id']}/decide", data=form)
        assert answer.status_code == 403
        assert "this form was not sent from this site" in answer.text
    cancel = await client.post(f"/ui/access/{asked['id']}/cancel", data={})
    assert cancel.status_code == 403
    assert ok(await client.get(f"/api/access-requests/{asked['id']}"))["status"] == "pending"


async def test_the_requester_cancels_a_pending_request(sqlite_client: AsyncClient) -> None:
    client = sqlite_client
    product = await create_product(client)
    asked = await ask(client, product["id"])
    csrf = csrf_of(await page(client, "/ui/access"))

    answer = await client.post(f"/ui/access/{asked['id']}/cancel", data={"csrf": csrf})
    assert answer.status_code == 303
    assert answer.headers["location"] == "/ui/access"
    row = row_of(await page(client, "/ui/access"), asked["id"])
    assert status_in(row) == "cancelled"
    assert "/cancel" not in row
    again = await client.post(f"/ui/access/{asked['id']}/cancel", data={"csrf": csrf})
    assert again.status_code == 409  # the error page, with the service's message
    assert "is cancelled" in again.text


async def test_roles_decide_who_sees_the_inbox(auth_client: AsyncClient) -> None:
    client = auth_client
    product = await create_product(client, headers=bearer("editor"))
    asked = await ask(client, product["id"], headers=bearer("viewer"))

    mine = await page(client, "/ui/access", bearer("viewer"))
    assert status_in(row_of(mine, asked["id"])) == "pending"
    assert 'href="/ui/access/inbox"' not in mine
    assert row_of(await page(client, "/ui/access", bearer("editor")), asked["id"]) == ""

    for who in ("viewer", "editor"):
        refused = await page(client, "/ui/access/inbox", bearer(who), status=403)
        assert "this needs the steward role" in refused
        denied = await client.post(
            f"/ui/access/{asked['id']}/decide",
            data={"decision": "approve", "csrf": csrf_of(mine)},
            headers=bearer(who),
        )
        assert denied.status_code == 403

    assert 'href="/ui/access/inbox"' in await page(client, "/ui/access", bearer("steward"))
    answer = await decide(client, asked["id"], "approve", "ok", headers=bearer("steward"))
    assert answer.status_code == 303
    stored = ok(await client.get(f"/api/access-requests/{asked['id']}", headers=bearer("viewer")))
    assert (stored["status"], stored["decided_by"]) == ("approved", "stella")
    assert status_in(row_of(await page(client, "/ui/access", bearer("viewer")), asked["id"])) == (
        "approved"
    )


async def test_the_inbox_pages_each_table_by_itself(
    sqlite_client: AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = sqlite_client
    monkeypatch.setattr("catalog.ui.access.PAGE_SIZE", 1)
    asked = [await ask(client, (await create_product(client))["id"]) for _ in range(3)]
    ok(await client.post(f"/api/access-requests/{asked[0]['id']}/approve"))

    first = await page(client, "/ui/access/inbox")
    assert row_of(section(first, "inbox"), asked[1]["id"])
    assert row_of(section(first, "inbox"), asked[2]["id"]) == ""
    link = 'rel="next" href="/ui/access/inbox?approved_offset=0&amp;offset=1"'
    assert link in section(first, "inbox")
    assert "rel=" not in section(first, "approved")  # one approved: one page
    second = await page(client, "/ui/access/inbox?offset=1")
    assert row_of(section(second, "inbox"), asked[2]["id"])
    assert row_of(section(second, "approved"), asked[0]["id"])
    assert 'rel="prev" href="/ui/access/inbox?approved_offset=0&amp;offset=0"' in second


async def test_a_product_the_requester_no_longer_sees_shows_no_name(
    auth_client: AsyncClient,
) -> None:
    client = auth_client
    product = await create_product(
        client, headers=bearer("editor"), name="Payroll secrets", visibility="restricted"
    )
    asked = await ask(client, product["id"], headers=bearer("viewer"))  # vera is in finance
    row = row_of(await page(client, "/ui/access", bearer("viewer")), asked["id"])
    assert f'<a href="/ui/products/{product["id"]}">Payroll secrets</a>' in row

    moved = {"team": "risk"}
    changed = await client.patch(
        f"/api/data-products/{product['id']}", json=moved, headers=bearer("steward")
    )
    ok(changed)
    hidden = row_of(await page(client, "/ui/access", bearer("viewer")), asked["id"])
    assert "Payroll secrets" not in hidden
    assert product["id"] in hidden
    assert status_in(hidden) == "pending"
    inbox = await page(client, "/ui/access/inbox", bearer("steward"))
    assert "Payroll secrets" in row_of(inbox, asked["id"])  # stewards see every product
