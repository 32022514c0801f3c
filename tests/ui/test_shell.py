"""The web UI's shell through HTTP: the start and search pages, the typeahead, the assets,
the security headers, and signing in and out (cookie, CSRF, expiry, revocation)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from httpx import AsyncClient, Response

from catalog.app import create_app
from catalog.ui.assets import URLS
from catalog.ui.sign_in import safe_next
from catalog.ui.web import CONTENT_SECURITY_POLICY
from tests.conftest import base_settings
from tests.support.api import create_product, error_of, ok
from tests.support.clock import ManualClock
from tests.support.search import caught_up
from tests.support.wait import until
from tests.test_auth import TOKENS, write_tokens

Opener = Callable[..., Awaitable[AsyncClient]]
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(page: Response) -> str:
    found = CSRF.search(page.text)
    assert found, page.text[:500]
    return found.group(1)


def assert_secure_page(answer: Response) -> None:
    assert answer.headers["content-type"].startswith("text/html")
    assert answer.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "script-src 'self'" in CONTENT_SECURITY_POLICY
    assert "unsafe-inline" not in CONTENT_SECURITY_POLICY
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["referrer-policy"] == "same-origin"
    assert "<script>" not in answer.text  # no inline script: only <script src=...>


async def test_search_page_shows_results_facets_snippets_and_explain(client: AsyncClient) -> None:
    await create_product(
        client,
        name="Customer churn",
        description="Monthly churn of every **customer** segment",
        team="growth",
    )
    await create_product(client, name="Customer invoices", team="finance")
    await create_product(client, name="Warehouse stock", team="ops")
    await caught_up(client)
    page = await client.get("/ui/search", params={"q": "customer"})
    assert page.status_code == 200
    assert_secure_page(page)
    assert '<h2 id="results-h">2 results for “customer”</h2>' in page.text
    assert "Customer churn" in page.text
    assert "Customer invoices" in page.text
    assert "Warehouse stock" not in page.text
    assert "<mark>customer</mark>" in page.text  # the snippet marks the matched word
    assert "Why this result?" in page.text  # explain, one click away
    assert 'href="/ui/search?q=customer&amp;team=growth"' in page.text  # a facet link
    narrowed = await client.get("/ui/search", params={"q": "customer", "team": "growth"})
    assert "1 result for “customer”" in narrowed.text
    assert "Customer invoices" not in narrowed.text


async def test_a_typo_still_finds_and_says_so(client: AsyncClient) -> None:
    await create_product(client, name="Customer churn")
    await caught_up(client)
    page = await client.get("/ui/search", params={"q": "custmer"})
    assert "Customer churn" in page.text
    assert "showing near spellings" in page.text


async def test_an_empty_search_helps(client: AsyncClient) -> None:
    await create_product(client, name="Popular thing", status="published")
    await caught_up(client)
    await client.get("/api/discover/search", params={"q": "popular"})  # a search to suggest

    async def remembered() -> bool:
        popular = ok(await client.get("/api/discover/popular-searches"))
        return bool(popular["items"])

    await until(remembered, "the search history recorded the search")
    page = await client.get("/ui/search", params={"q": "zzqqxx"})
    assert "Nothing matches “zzqqxx”" in page.text
    assert "Popular searches" in page.text
    assert 'href="/ui/search?q=popular"' in page.text
    assert "Recently updated" in page.text
    assert "Popular thing" in page.text


async def test_pages_of_results_link_to_each_other(sqlite_client: AsyncClient) -> None:
    for number in range(25):
        await create_product(sqlite_client, name=f"Ledger {number:02d}")
    await caught_up(sqlite_client)
    first = await sqlite_client.get("/ui/search", params={"q": "ledger", "sort_by": "name"})
    assert "1\N{EN DASH}20 of 25" in first.text
    assert 'rel="next" href="/ui/search?q=ledger&amp;sort_by=name&amp;offset=20"' in first.text
    second = await sqlite_client.get(
        "/ui/search", params={"q": "ledger", "sort_by": "name", "offset": 20}
    )
    assert "21\N{EN DASH}25 of 25" in second.text
    assert "Ledger 24" in second.text
    assert "Ledger 00" not in second.text
    assert 'rel="prev"' in second.text


async def test_user_text_is_shown_as_text_never_markup(client: AsyncClient) -> None:
    hostile = "<script>alert(1)</script>"
    await create_product(client, name=hostile, description='<img src=x onerror="alert(2)">')
    await caught_up(client)
    page = await client.get("/ui/search", params={"q": "script"})
    assert hostile not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "<img" not in page.text
    echoed = await client.get("/ui/search", params={"q": '"><svg onload=alert(3)>'})
    assert "<svg" not in echoed.text
    assert "&lt;svg onload=alert(3)&gt;" in echoed.text
    suggest = ok(await client.get("/ui/search/suggest", params={"q": "scr"}))
    assert any(s["text"] == hostile for s in suggest["suggestions"])  # JSON; the script
    # puts it into the list with textContent (static/app.js), never as HTML.


async def test_typeahead_answers_with_suggestions(client: AsyncClient) -> None:
    await create_product(client, name="Customer churn")
    await caught_up(client)
    answer = await client.get("/ui/search/suggest", params={"q": "cust"})
    assert answer.headers["cache-control"] == "no-store"
    assert [s["text"] for s in ok(answer)["suggestions"]][:1] == ["Customer churn"]


async def test_bad_parameters_get_the_error_page(sqlite_client: AsyncClient) -> None:
    answer = await sqlite_client.get("/ui/search", params={"offset": "-1"})
    assert answer.status_code == 400
    assert_secure_page(answer)
    assert "<h1>Some of the request is not valid</h1>" in answer.text
    assert "offset" in answer.text


async def test_the_start_page_lists_recent_and_most_used(sqlite_client: AsyncClient) -> None:
    await create_product(sqlite_client, name="Fresh data", status="published")
    await caught_up(sqlite_client)
    page = await sqlite_client.get("/ui/")
    assert_secure_page(page)
    assert page.headers["cache-control"] == "private, no-cache"
    assert "<h1>Find data</h1>" in page.text
    assert "Fresh data" in page.text
    assert 'role="combobox"' in page.text
    assert 'data-suggest="/ui/search/suggest"' in page.text


async def test_assets_have_content_hashes_and_long_lifetimes(sqlite_client: AsyncClient) -> None:
    page = await sqlite_client.get("/ui/")
    for name in ("app.css", "app.js"):
        url = URLS[name]
        assert re.fullmatch(rf"/ui/static/{name.split('.')[0]}\.[0-9a-f]{{12}}\.\w+", url)
        assert url in page.text
        asset = await sqlite_client.get(url)
        assert asset.status_code == 200
        assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert asset.headers["x-content-type-options"] == "nosniff"
    assert (
        (await sqlite_client.get(URLS["app.js"]))
        .headers["content-type"]
        .startswith("text/javascript")
    )
    error_of(await sqlite_client.get("/ui/static/app.css"), 404)  # only hashed names
    error_of(await sqlite_client.get("/ui/static/../../settings.py"), 404)


# --- signing in ----------------------------------------------------------------------------


@pytest.fixture
def tokens_file(tmp_path: Path) -> Path:
    return write_tokens(tmp_path / "tokens", TOKENS)


async def auth_app(
    sqlite_url: str, tokens_file: Path, open_client: Opener, clock: ManualClock | None = None
) -> AsyncClient:
    settings = base_settings(
        sqlite_url, enable_auth=True, auth_tokens_file=tokens_file, ui_session_max_age_s=3600
    )
    return await open_client(create_app(settings, clock=clock))


async def sign_in(client: AsyncClient, token: str, next_url: str = "/ui/") -> Response:
    form = await client.get("/ui/sign-in", params={"next": next_url})
    assert_secure_page(form)
    return await client.post(
        "/ui/sign-in", data={"csrf": csrf_of(form), "next": next_url, "credential": token}
    )


async def test_a_page_without_a_session_leads_to_the_sign_in_form(
    sqlite_url: str, tokens_file: Path, open_client: Opener
) -> None:
    client = await auth_app(sqlite_url, tokens_file, open_client)
    answer = await client.get("/ui/search", params={"q": "x y"})
    assert answer.status_code == 303
    assert answer.headers["location"] == "/ui/sign-in?next=%2Fui%2Fsearch%3Fq%3Dx%2By"
    form = await client.get(answer.headers["location"])
    assert '<input type="hidden" name="next" value="/ui/search?q=x+y">' in form.text
    assert 'type="password"' in form.text
    assert '<label for="credential">' in form.text


async def test_signing_in_sets_a_safe_cookie_and_goes_back(
    sqlite_url: str, tokens_file: Path, open_client: Opener
) -> None:
    client = await auth_app(sqlite_url, tokens_file, open_client)
    answer = await sign_in(client, TOKENS["viewer"][0], "/ui/search?q=a")
    assert (answer.status_code, answer.headers["location"]) == (303, "/ui/search?q=a")
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith("catalog_session=")
    for flag in ("HttpOnly", "Max-Age=3600", "Path=/ui", "SameSite=lax"):
        assert flag in cookie, cookie
    page = await client.get("/ui/")
    assert page.status_code == 200
    assert "vera <small>(viewer)</small>" in page.text
    assert "Audit" not in page.text  # the admin's link is not shown to a viewer
    # The cookie is for pages only: the API still wants its Authorization header.
    error_of(await client.get("/api/data-products"), 401)


async def test_a_wrong_token_is_refused_on_the_form(
    sqlite_url: str, tokens_file: Path, open_client: Opener
) -> None:
    client = await auth_app(sqlite_url, tokens_file, open_client)
    answer = await sign_in(client, "not-a-token")
    assert answer.status_code == 401
    assert 'role="alert"' in answer.text
    assert "does not sign in" in answer.text
    assert "catalog_session" not in answer.headers.get("set-cookie", "")


async def test_a_tampered_or_expired_session_signs_out(
    sqlite_url: str, tokens_file: Path, open_client: Opener
) -> None:
    clock = ManualClock()
    client = await auth_app(sqlite_url, tokens_file, open_client, clock)
    await sign_in(client, TOKENS["viewer"][0])
    session = client.cookies["catalog_session"]
    client.cookies.set("catalog_session", session[:-2] + "xx", path="/ui")
    tampered = await client.get("/ui/")
    assert tampered.status_code == 303
    assert "catalog_session=;" in tampered.headers["set-cookie"]  # cleared
    client.cookies.set("catalog_session", session, path="/ui")
    assert (await client.get("/ui/")).status_code == 200
    clock.advance(3601)
    expired = await client.get("/ui/")
    assert (expired.status_code, expired.headers["location"]) == (
        303,
        "/ui/sign-in?next=%2Fui%2F",
    )


async def test_a_revoked_api_key_ends_the_session(
    sqlite_url: str, tokens_file: Path, open_client: Opener
) -> None:
    client = await auth_app(sqlite_url, tokens_file, open_client)
    admin = {"authorization": f"Bearer {TOKENS['admin'][0]}"}
    key = ok(
        await client.post(
            "/api/admin/api-keys",
            json={"name": "kim", "role": "viewer"},
            headers=admin,
        ),
        201,
    )
    await sign_in(client, key["key"])
    assert "api-key:kim" in (await client.get("/ui/")).text
    ok(await client.delete(f"/api/admin/api-keys/{key['id']}", headers=admin), 204)
    assert (await client.get("/ui/")).status_code == 303


async def test_forms_need_their_csrf_token(
    sqlite_url: str, tokens_file: Path, open_client: Opener
) -> None:
    client = await auth_app(sqlite_url, tokens_file, open_client)
    form = await client.get("/ui/sign-in")
    data = {"next": "/ui/", "credential": TOKENS["viewer"][0]}
    good = csrf_of(form)
    altered = good[:-1] + ("1" if good.endswith("0") else "0")  # never the good one
    for csrf in (None, "0" * 64, altered):
        answer = await client.post("/ui/sign-in", data=data | ({"csrf": csrf} if csrf else {}))
        assert answer.status_code == 403, csrf
        assert "reload it and try again" in answer.text
    # A token is bound to its browser: another browser's cookie does not take it.
    client.cookies.set("catalog_browser", "someone-else", path="/ui")
    refused = await client.post("/ui/sign-in", data=data | {"csrf": good})
    assert refused.status_code == 403


async def test_signing_out_clears_the_session(
    sqlite_url: str, tokens_file: Path, open_client: Opener
) -> None:
    client = await auth_app(sqlite_url, tokens_file, open_client)
    await sign_in(client, TOKENS["steward"][0])
    page = await client.get("/ui/")
    assert "Sign out" in page.text
    answer = await client.post("/ui/sign-out", data={"csrf": csrf_of(page)})
    assert (answer.status_code, answer.headers["location"]) == (303, "/ui/sign-in")
    assert "catalog_session=" in answer.headers["set-cookie"]
    assert (await client.get("/ui/")).status_code == 303


def test_sign_in_only_returns_to_pages_of_this_ui() -> None:
    assert safe_next("/ui/search?q=a") == "/ui/search?q=a"
    for hostile in (
        "//evil.example/ui/",
        "https://evil.example/",
        "/api/data-products",
        "/ui\\..\\x",
        "/ui/\r\nSet-Cookie: x",
        "",
        None,
    ):
        assert safe_next(hostile) == "/ui/", hostile


async def test_with_auth_off_the_ui_works_at_once(sqlite_client: AsyncClient) -> None:
    page = await sqlite_client.get("/ui/sign-in")
    assert "Authentication is off" in page.text
    home = await sqlite_client.get("/ui/")
    assert home.status_code == 200
    assert "anonymous" in home.text


async def test_cookies_are_secure_behind_a_trusted_https_proxy(
    sqlite_url: str, tokens_file: Path, open_client: Opener
) -> None:
    settings = base_settings(
        sqlite_url, enable_auth=True, auth_tokens_file=tokens_file, trusted_proxies="10.0.0.0/8"
    )
    app = create_app(settings)
    behind_proxy = await open_client(app, client_ip="10.0.0.7")
    direct = await open_client(app, client_ip="192.0.2.5")
    https = {"x-forwarded-proto": "https"}
    for client, secure in ((behind_proxy, True), (direct, False)):
        form = await client.get("/ui/sign-in", headers=https)
        browser_cookie = form.headers["set-cookie"]
        assert ("Secure" in browser_cookie) is secure
        # httpx keeps a Secure cookie for https:// only; a browser behind the proxy sends it.
        answer = await client.post(
            "/ui/sign-in",
            data={"csrf": csrf_of(form), "next": "/ui/", "credential": TOKENS["viewer"][0]},
            headers=https | {"cookie": browser_cookie.split(";")[0]},
        )
        assert answer.status_code == 303
        assert ("Secure" in answer.headers["set-cookie"]) is secure, answer.headers


async def test_workers_of_one_host_share_the_signing_key(
    sqlite_url: str, tokens_file: Path, open_client: Opener, search_index_dir: Path
) -> None:
    # Two apps with one search index directory: the workers of one host.
    first = await auth_app(sqlite_url, tokens_file, open_client)
    second = await auth_app(sqlite_url, tokens_file, open_client)
    await sign_in(first, TOKENS["viewer"][0])
    key_file = search_index_dir / "ui-session.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in search_index_dir.iterdir() if p.name.startswith("ui-")] == [
        "ui-session.key"
    ]  # no draft left behind
    second.cookies.set("catalog_session", first.cookies["catalog_session"], path="/ui")
    assert (await second.get("/ui/")).status_code == 200
