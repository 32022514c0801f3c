"""Signing in to the web UI through an OIDC provider (authorization code + PKCE), against a
real provider over HTTP (tests/support/oidc_provider.py). The browser's redirects are followed
by hand: the app's through the ASGI client, the provider's through a real HTTP client."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Awaitable, Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from httpx import AsyncClient, Response

from catalog.app import create_app
from tests.conftest import base_settings
from tests.support.clock import ManualClock
from tests.support.oidc_provider import OidcProvider
from tests.ui.test_shell import assert_secure_page

Opener = Callable[..., Awaitable[AsyncClient]]
AUDIENCE = "catalog-api"
CLIENT_ID = "catalog-ui"
CALLBACK = "http://catalog.test/ui/oidc/callback"


@pytest.fixture
def provider() -> Iterator[OidcProvider]:
    idp = OidcProvider(client_id=CLIENT_ID, audience=AUDIENCE, client_secret="s3cret/+:x").start()
    # Roles and team come from the same claims, through the same map, as the API's JWTs.
    idp.access_claims = {
        "sub": "olga",
        "realm_access": {"roles": ["catalog-stewards", "offline_access"]},
        "group": "finance",
    }
    yield idp
    idp.stop()


def oidc_settings(sqlite_url: str, provider: OidcProvider, **overrides: Any) -> Any:
    values: dict[str, Any] = {
        "enable_auth": True,
        "jwt_jwks_url": provider.jwks_url,
        "jwt_issuer": provider.issuer,
        "jwt_audience": AUDIENCE,
        "jwt_role_claim": "realm_access.roles",
        "jwt_team_claim": "group",
        "jwt_role_map": {"catalog-stewards": "steward"},
        "oidc_client_id": CLIENT_ID,
        "oidc_client_secret": provider.client_secret,
        "ui_session_max_age_s": 3600,
    }
    return base_settings(sqlite_url, **(values | overrides))


async def oidc_app(
    sqlite_url: str,
    provider: OidcProvider,
    open_client: Opener,
    clock: ManualClock | None = None,
    **overrides: Any,
) -> AsyncClient:
    settings = oidc_settings(sqlite_url, provider, **overrides)
    return await open_client(create_app(settings, clock=clock))


async def to_provider(client: AsyncClient, next_url: str = "/ui/") -> str:
    """Start signing in: the app's redirect to the provider's authorization endpoint."""
    answer = await client.get("/ui/sign-in/oidc", params={"next": next_url})
    assert answer.status_code == 303, answer.text
    return answer.headers["location"]


async def at_provider(authorize_url: str) -> str:
    """The provider signs the person in and sends the browser back: the callback URL."""
    async with httpx.AsyncClient(trust_env=False) as browser:
        answer = await browser.get(authorize_url)
    assert answer.status_code == 302
    location = answer.headers["location"]
    assert location.startswith(CALLBACK + "?")
    return location


async def sign_in(client: AsyncClient, next_url: str = "/ui/") -> Response:
    return await client.get(await at_provider(await to_provider(client, next_url)))


def set_cookies(answer: Response) -> str:
    return " | ".join(answer.headers.get_list("set-cookie"))


async def test_signing_in_through_the_provider_lands_on_next_with_a_session(
    sqlite_url: str, provider: OidcProvider, open_client: Opener
) -> None:
    client = await oidc_app(sqlite_url, provider, open_client)
    started = await client.get("/ui/sign-in/oidc", params={"next": "/ui/search?q=a"})
    assert started.status_code == 303
    oidc_cookie = started.headers["set-cookie"]
    assert oidc_cookie.startswith("catalog_oidc=")
    for flag in ("HttpOnly", "Max-Age=600", "Path=/ui", "SameSite=lax"):
        assert flag in oidc_cookie, oidc_cookie
    authorize = urlsplit(started.headers["location"])
    assert (
        f"{authorize.scheme}://{authorize.netloc}{authorize.path}" == f"{provider.issuer}/authorize"
    )
    asked = {k: v[0] for k, v in parse_qs(authorize.query).items()}
    assert asked["response_type"] == "code"
    assert asked["client_id"] == CLIENT_ID
    assert asked["redirect_uri"] == CALLBACK
    assert asked["scope"] == "openid profile email"
    assert asked["code_challenge_method"] == "S256"
    assert len(asked["code_challenge"]) == 43  # base64url of a SHA-256, unpadded
    assert len(asked["state"]) >= 32
    assert len(asked["nonce"]) >= 32
    assert asked["state"] != asked["nonce"]
    assert "/ui/search" not in started.headers["location"]  # `next` stays with us

    back = await client.get(await at_provider(started.headers["location"]))
    assert (back.status_code, back.headers["location"]) == (303, "/ui/search?q=a")
    cookies = set_cookies(back)
    assert "catalog_session=" in cookies
    assert 'catalog_oidc=""' in cookies or "catalog_oidc=;" in cookies  # the attempt is over
    for flag in ("HttpOnly", "Max-Age=3600", "Path=/ui", "SameSite=lax"):
        assert flag in cookies, cookies
    # The exchange sent the verifier whose S256 is the challenge, and the client's secret.
    exchange = provider.token_requests[-1]
    verifier = exchange["code_verifier"]
    digest = hashlib.sha256(verifier.encode()).digest()
    assert base64.urlsafe_b64encode(digest).rstrip(b"=").decode() == asked["code_challenge"]
    assert exchange["redirect_uri"] == CALLBACK

    page = await client.get("/ui/")
    assert page.status_code == 200
    assert "olga <small>(steward)</small>" in page.text
    assert "catalog_oidc" not in client.cookies


async def test_the_session_holds_the_access_token_the_api_accepts(
    sqlite_url: str, provider: OidcProvider, open_client: Opener
) -> None:
    client = await oidc_app(sqlite_url, provider, open_client)
    await sign_in(client)
    # The same principal as the API makes of that token: its role page (steward only) opens.
    audit = await client.get("/ui/audit")
    assert audit.status_code == 200, audit.text[:300]


async def test_a_wrong_or_missing_or_old_state_is_refused(
    sqlite_url: str, provider: OidcProvider, open_client: Opener
) -> None:
    clock = ManualClock()
    client = await oidc_app(sqlite_url, provider, open_client, clock)
    callback = await at_provider(await to_provider(client))
    forged = callback.replace("state=", "state=x")
    answer = await client.get(forged)
    assert answer.status_code == 400
    assert_secure_page(answer)
    assert "unknown or too old" in answer.text
    assert "catalog_session" not in set_cookies(answer)
    assert provider.token_requests == []  # the code was never exchanged

    client.cookies.delete("catalog_oidc", path="/ui")  # another browser: no attempt of its own
    assert (await client.get(callback)).status_code == 400

    callback = await at_provider(await to_provider(client))
    clock.advance(601)
    late = await client.get(callback)
    assert late.status_code == 400
    assert "catalog_session" not in set_cookies(late)
    assert "catalog_session" not in client.cookies


async def test_a_wrong_pkce_verifier_is_refused_by_the_provider(
    sqlite_url: str, provider: OidcProvider, open_client: Opener
) -> None:
    client = await oidc_app(sqlite_url, provider, open_client)
    provider.challenge_override = "another-challenge-than-the-one-sent"
    answer = await sign_in(client)
    assert answer.status_code == 502
    assert_secure_page(answer)
    assert "did not answer as expected" in answer.text
    assert "invalid_grant" in answer.text
    assert "catalog_session" not in set_cookies(answer)
    assert "Traceback" not in answer.text


async def test_a_provider_that_is_down_gets_503_with_retry_after(
    sqlite_url: str, provider: OidcProvider, open_client: Opener
) -> None:
    client = await oidc_app(sqlite_url, provider, open_client, unavailable_retry_after_s=7)
    callback = await at_provider(await to_provider(client))
    provider.stop()
    answer = await client.get(callback)
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "7"
    assert "identity provider cannot be reached" in answer.text
    assert "catalog_session" not in set_cookies(answer)


async def test_a_provider_down_before_the_start_gets_503(
    sqlite_url: str, provider: OidcProvider, open_client: Opener
) -> None:
    provider.stop()
    client = await oidc_app(sqlite_url, provider, open_client)
    answer = await client.get("/ui/sign-in/oidc")
    assert answer.status_code == 503
    assert "retry-after" in answer.headers
    assert "catalog_oidc" not in set_cookies(answer)


@pytest.mark.parametrize(
    "claims",
    [
        {"realm_access": {"roles": ["catalog-nobody"]}},  # a role the map does not know
        {"aud": "another-api"},  # a token for another audience
    ],
    ids=["unknown-role", "wrong-audience"],
)
async def test_a_token_the_api_would_refuse_does_not_sign_in(
    sqlite_url: str, provider: OidcProvider, open_client: Opener, claims: dict[str, Any]
) -> None:
    client = await oidc_app(sqlite_url, provider, open_client)
    provider.access_claims = provider.access_claims | claims
    answer = await sign_in(client)
    assert answer.status_code == 401
    assert_secure_page(answer)
    assert "token does not sign in here" in answer.text
    assert "catalog_session" not in set_cookies(answer)


async def test_an_id_token_with_another_nonce_does_not_sign_in(
    sqlite_url: str, provider: OidcProvider, open_client: Opener
) -> None:
    client = await oidc_app(sqlite_url, provider, open_client)
    provider.id_claims = {"nonce": "replayed"}
    answer = await sign_in(client)
    assert answer.status_code == 401
    assert "ID token is not valid here" in answer.text
    assert "catalog_session" not in set_cookies(answer)
    provider.id_claims = {"aud": "another-client"}
    assert (await sign_in(client)).status_code == 401


async def test_a_public_client_signs_in_with_pkce_alone(
    sqlite_url: str, provider: OidcProvider, open_client: Opener
) -> None:
    provider.client_secret = None
    client = await oidc_app(sqlite_url, provider, open_client, oidc_client_secret=None)
    answer = await sign_in(client)
    assert answer.status_code == 303
    assert "catalog_session=" in set_cookies(answer)


async def test_next_never_leaves_the_ui(
    sqlite_url: str, provider: OidcProvider, open_client: Opener
) -> None:
    client = await oidc_app(sqlite_url, provider, open_client)
    for target in ("//evil.example", "https://evil.example/ui/", "/api/data-products"):
        answer = await sign_in(client, target)
        assert (answer.status_code, answer.headers["location"]) == (303, "/ui/"), target


async def test_the_discovery_document_is_kept_for_an_hour(
    sqlite_url: str, provider: OidcProvider, open_client: Opener
) -> None:
    clock = ManualClock()
    client = await oidc_app(sqlite_url, provider, open_client, clock)
    await sign_in(client)
    await sign_in(client)
    assert provider.discovery_requests == 1
    clock.advance(3601)
    await to_provider(client)
    assert provider.discovery_requests == 2


async def test_the_sign_in_page_offers_the_provider_only_when_configured(
    sqlite_url: str, provider: OidcProvider, open_client: Opener
) -> None:
    client = await oidc_app(sqlite_url, provider, open_client)
    page = await client.get("/ui/sign-in", params={"next": "/ui/search?q=a"})
    assert (
        '<a id="oidc-sign-in" class="button" href="/ui/sign-in/oidc?next=%2Fui%2Fsearch%3Fq%3Da">'
        "Sign in with your identity provider</a>"
    ) in page.text
    assert page.text.index('id="oidc-sign-in"') < page.text.index('name="credential"')

    plain = await oidc_app(sqlite_url, provider, open_client, oidc_client_id=None)
    page = await plain.get("/ui/sign-in")
    assert 'id="oidc-sign-in"' not in page.text
    assert 'name="credential"' in page.text
    # Without OIDC, its paths show the sign-in form, saying so.
    off = await plain.get("/ui/sign-in/oidc", params={"next": "/ui/tags"})
    assert off.status_code == 200
    assert "not configured here" in off.text
    assert '<input type="hidden" name="next" value="/ui/tags">' in off.text
    assert "catalog_oidc" not in set_cookies(off)
    back = await plain.get("/ui/oidc/callback", params={"code": "c", "state": "s"})
    assert back.status_code == 200
    assert "not configured here" in back.text
    assert "catalog_session" not in set_cookies(back)


async def test_the_configured_redirect_uri_is_the_one_sent(
    sqlite_url: str, provider: OidcProvider, open_client: Opener
) -> None:
    registered = "https://catalog.example.com/ui/oidc/callback"
    client = await oidc_app(sqlite_url, provider, open_client, oidc_redirect_uri=registered)
    authorize = urlsplit(await to_provider(client))
    assert parse_qs(authorize.query)["redirect_uri"] == [registered]


async def test_a_person_the_provider_turns_away_gets_a_401_page(
    sqlite_url: str, provider: OidcProvider, open_client: Opener
) -> None:
    client = await oidc_app(sqlite_url, provider, open_client)
    callback = urlsplit(await at_provider(await to_provider(client)))
    state = parse_qs(callback.query)["state"][0]
    answer = await client.get(
        "/ui/oidc/callback", params={"error": "access_denied", "state": state}
    )
    assert answer.status_code == 401
    assert "did not sign you in (access_denied)" in answer.text
    assert "catalog_session" not in set_cookies(answer)
    hostile = await client.get("/ui/oidc/callback", params={"error": "<b>x</b>", "state": state})
    assert hostile.status_code == 401
    assert "<b>x" not in hostile.text
    assert provider.token_requests == []


async def test_a_provider_without_a_usable_discovery_document_gets_a_502_page(
    sqlite_url: str, provider: OidcProvider, open_client: Opener
) -> None:
    client = await oidc_app(sqlite_url, provider, open_client)
    provider.discovery_override = {"issuer": "https://someone-else.example"}
    answer = await client.get("/ui/sign-in/oidc")
    assert answer.status_code == 502
    assert "names another issuer" in answer.text
    provider.discovery_override = {"issuer": provider.issuer}  # no endpoints
    answer = await client.get("/ui/sign-in/oidc")
    assert answer.status_code == 502
    assert "no authorization or token endpoint" in answer.text
    assert "catalog_oidc" not in set_cookies(answer)
