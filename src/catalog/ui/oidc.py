"""Signing in to the web UI through the OIDC provider at `JWT_ISSUER` (authorization code with
PKCE), when `CATALOG_OIDC_CLIENT_ID` is set (see `sign_in.oidc_enabled`).

`GET /ui/sign-in/oidc?next=` makes a PKCE verifier (S256), a `state` and a `nonce`, keeps them
with `next` in a signed, HttpOnly cookie (`catalog_oidc`, ten minutes, the session's key under
its own salt) and sends the browser to the provider's authorization endpoint (from its
discovery document, cached for an hour per app). The provider sends it back to
`GET /ui/oidc/callback?code=&state=`: the state must be the cookie's; the code is exchanged at
the token endpoint with the verifier (and the client secret, HTTP Basic, when configured); the
`id_token`, when the provider sends one, must be signed by a key of `JWT_JWKS_URL`, issued by
`JWT_ISSUER` for this client and carry the cookie's nonce; the `access_token` must sign in
exactly as it would as an `Authorization` header on the API (the same `CredentialGate`, so the
roles and team come from the same claims). It is then what the session cookie keeps, like a
token typed into the sign-in form: the session ends when it expires.

An unreachable provider is a 503 page with `Retry-After`; a provider answering with an error or
nonsense is a 502 page; neither shows what the provider said beyond an OAuth error code.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import jwt
from fastapi import Request, Response
from fastapi.routing import APIRouter

from catalog.core.errors import CatalogError, ServiceUnavailable, Unauthorized
from catalog.core.logging import get_logger
from catalog.identity.jwt import KEY_FOR_ALGORITHM, usable_keys
from catalog.server.auth_middleware import CredentialGate
from catalog.server.ui_session import OIDC_CALLBACK_PATH, OIDC_START_PATH, UI_PREFIX
from catalog.settings import Settings
from catalog.ui.sign_in import oidc_enabled, safe_next, set_session_cookie, sign_in_page
from catalog.ui.web import UiRoute, error_page, is_https, resources_of, see_other

log = get_logger(__name__)

router = APIRouter(route_class=UiRoute, include_in_schema=False)

OIDC_COOKIE = "catalog_oidc"
COOKIE_SALT = "catalog-ui-oidc"
COOKIE_MAX_AGE_S = 600  # time to sign in at the provider
DISCOVERY_TTL_S = 3600.0
MAX_ANSWER_BYTES = 1024 * 1024
_ERROR_CODE = re.compile(r"^[a-z_]{1,64}$")  # an OAuth error code, safe to show


@dataclass(frozen=True)
class Provider:
    """What the discovery document says, and when it was fetched (monotonic seconds)."""

    authorization_endpoint: str
    token_endpoint: str
    fetched_at: float


class ProviderError(Exception):
    """The provider answered, but not as OAuth says it should: a 502 page."""


def _unreachable(settings: Settings) -> ServiceUnavailable:
    return ServiceUnavailable(
        "the identity provider cannot be reached: try again in a moment",
        retry_after=settings.unavailable_retry_after_s,
    )


async def _get_json(
    settings: Settings, method: str, url: str, **kwargs: Any
) -> tuple[int, dict[str, Any]]:
    """The status and JSON object of one call to the provider (503 when it cannot be reached,
    ProviderError when its answer is not a JSON object)."""
    try:
        async with httpx.AsyncClient(timeout=settings.dependency_timeout_s) as http:
            answer = await http.request(
                method, url, headers={"Accept": "application/json"}, **kwargs
            )
    except httpx.HTTPError as exc:
        log.warning("oidc_provider_unreachable", url=url, error=type(exc).__name__)
        raise _unreachable(settings) from None
    if len(answer.content) > MAX_ANSWER_BYTES:
        raise ProviderError("its answer is too large")
    try:
        document = json.loads(answer.content)
    except ValueError:
        document = None
    if not isinstance(document, dict):
        raise ProviderError(f"its answer (HTTP {answer.status_code}) is not a JSON object")
    return answer.status_code, document


async def _provider(request: Request) -> Provider:
    """The provider's endpoints, from its discovery document (cached for an hour per app)."""
    resources = resources_of(request)
    settings = resources.settings
    issuer = settings.jwt_issuer or ""
    now = resources.clock.monotonic()
    cached: Provider | None = getattr(request.app.state, "oidc_provider", None)
    if cached is not None and 0 <= now - cached.fetched_at < DISCOVERY_TTL_S:
        return cached
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    status, document = await _get_json(settings, "GET", url)
    if status != 200:
        raise ProviderError(f"its discovery document answered HTTP {status}")
    if str(document.get("issuer", "")).rstrip("/") != issuer.rstrip("/"):
        raise ProviderError("its discovery document names another issuer than JWT_ISSUER")
    endpoints = [document.get("authorization_endpoint"), document.get("token_endpoint")]
    if not all(isinstance(e, str) and e.startswith(("https://", "http://")) for e in endpoints):
        raise ProviderError("its discovery document has no authorization or token endpoint")
    provider = Provider(str(endpoints[0]), str(endpoints[1]), now)
    request.app.state.oidc_provider = provider
    return provider


def _provider_error_page(request: Request, exc: ProviderError) -> Response:
    log.warning("oidc_provider_error", error=str(exc))
    return error_page(
        request,
        502,
        "The identity provider did not answer as expected",
        [f"The identity provider: {exc}.", "Try again later, or sign in with a key or token."],
    )


def _not_configured(request: Request, next_url: str | None = None) -> Response:
    """The sign-in form, saying so (a stale bookmark or link lands where one signs in)."""
    return sign_in_page(
        request,
        safe_next(next_url),
        notice="Signing in through an identity provider is not configured here: "
        "sign in with an API key or a token.",
    )


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _redirect_uri(request: Request) -> str:
    """`CATALOG_OIDC_REDIRECT_URI`, else this server's callback at the URL the request came to."""
    configured = resources_of(request).settings.oidc_redirect_uri
    return configured or str(request.base_url).rstrip("/") + OIDC_CALLBACK_PATH


@router.get(OIDC_START_PATH)
async def start(request: Request, next: str | None = None) -> Response:
    resources = resources_of(request)
    settings = resources.settings
    if not oidc_enabled(settings):
        return _not_configured(request, next)
    try:
        provider = await _provider(request)
    except ProviderError as exc:
        return _provider_error_page(request, exc)
    verifier = secrets.token_urlsafe(48)  # 64 characters of [A-Za-z0-9_-]: RFC 7636's range
    state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    params = {
        "response_type": "code",
        "client_id": settings.oidc_client_id,
        "redirect_uri": _redirect_uri(request),
        "scope": settings.oidc_scopes,
        "state": state,
        "nonce": nonce,
        "code_challenge": _b64(hashlib.sha256(verifier.encode("ascii")).digest()),
        "code_challenge_method": "S256",
    }
    separator = "&" if "?" in provider.authorization_endpoint else "?"
    response = see_other(provider.authorization_endpoint + separator + urlencode(params))
    attempt = {"state": state, "nonce": nonce, "verifier": verifier, "next": safe_next(next)}
    response.set_cookie(
        OIDC_COOKIE,
        resources.ui_sessions.dump_value(attempt, COOKIE_SALT),
        max_age=COOKIE_MAX_AGE_S,
        httponly=True,
        samesite="lax",  # sent on the provider's top-level redirect back to us
        secure=is_https(request),
        path=UI_PREFIX,
    )
    return response


@router.get(OIDC_CALLBACK_PATH)
async def callback(
    request: Request,
    code: str | None = None,
    state: str | None = None,
    error: str | None = None,
) -> Response:
    resources = resources_of(request)
    settings = resources.settings
    if not oidc_enabled(settings):
        return _not_configured(request)
    attempt = _attempt_of(request)
    if attempt is None or not state or not hmac.compare_digest(attempt["state"], state):
        return error_page(
            request,
            400,
            "This sign-in is unknown or too old",
            ["Start again from the sign-in page (a sign-in must finish within ten minutes)."],
        )
    if error is not None or not code:
        shown = error if error is not None and _ERROR_CODE.match(error) else "no code"
        return _refused(request, f"The identity provider did not sign you in ({shown}).")
    try:
        provider = await _provider(request)
        tokens = await _exchange(request, provider, code, attempt["verifier"])
        access_token = tokens.get("access_token")
        if not isinstance(access_token, str) or not access_token:
            raise ProviderError("its token answer has no access_token")
        id_token = tokens.get("id_token")
        if id_token is not None and not await _id_token_ok(settings, id_token, attempt["nonce"]):
            return _refused(request, "The identity provider's ID token is not valid here.")
    except ProviderError as exc:
        return _provider_error_page(request, exc)
    refusal: CatalogError | None = await CredentialGate(settings).authenticate(
        request.scope, resources, f"Bearer {access_token}"
    )
    if isinstance(refusal, Unauthorized):
        return _refused(request, "The identity provider's token does not sign in here.")
    if refusal is not None:
        raise refusal  # locked out after failures (429), its keys unavailable (503)
    response = see_other(safe_next(attempt["next"]))
    set_session_cookie(request, response, access_token)
    response.delete_cookie(OIDC_COOKIE, path=UI_PREFIX)
    return response


def _attempt_of(request: Request) -> dict[str, str] | None:
    cookie = request.cookies.get(OIDC_COOKIE)
    if not cookie:
        return None
    value = resources_of(request).ui_sessions.load_value(cookie, COOKIE_SALT, COOKIE_MAX_AGE_S)
    keys = ("state", "nonce", "verifier", "next")
    if not isinstance(value, dict) or not all(isinstance(value.get(k), str) for k in keys):
        return None
    return {k: value[k] for k in keys}


def _refused(request: Request, message: str) -> Response:
    return error_page(
        request,
        401,
        message,
        ["Ask for a catalog role at your identity provider, or sign in with a key or token."],
    )


async def _exchange(request: Request, provider: Provider, code: str, verifier: str) -> Any:
    settings = resources_of(request).settings
    client_id = settings.oidc_client_id or ""
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": _redirect_uri(request),
        "client_id": client_id,
        "code_verifier": verifier,
    }
    auth = None
    if settings.oidc_client_secret is not None:
        # RFC 6749 2.3.1: both parts form-urlencoded before they go into Basic auth.
        secret = settings.oidc_client_secret.get_secret_value()
        auth = httpx.BasicAuth(quote(client_id, safe=""), quote(secret, safe=""))
    status, answer = await _get_json(
        settings, "POST", provider.token_endpoint, data=form, auth=auth
    )
    if status != 200:
        code_name = answer.get("error")
        shown = code_name if isinstance(code_name, str) and _ERROR_CODE.match(code_name) else None
        raise ProviderError(
            f"it refused the sign-in code (HTTP {status}{', ' + shown if shown else ''})"
        )
    return answer


async def _id_token_ok(settings: Settings, id_token: Any, nonce: str) -> bool:
    """The ID token is signed by a key of `JWT_JWKS_URL` (fetched now: a sign-in is rare),
    issued by `JWT_ISSUER` for this client, unexpired, and carries this sign-in's nonce."""
    if not isinstance(id_token, str):
        return False
    try:
        header = jwt.get_unverified_header(id_token)
    except jwt.PyJWTError:
        return False
    alg, kid = header.get("alg"), header.get("kid")
    if alg not in settings.jwt_algorithms or alg not in KEY_FOR_ALGORITHM:
        return False
    status, document = await _get_json(settings, "GET", settings.jwt_jwks_url or "")
    if status != 200 or not isinstance(document.get("keys"), list):
        raise ProviderError(f"its JWKS answered HTTP {status} without keys")
    keys = [key for key in usable_keys(document) if kid is None or key.kid == kid]
    if len(keys) != 1 or not keys[0].fits(alg):
        return False
    try:
        claims = jwt.decode(
            id_token,
            keys[0].key,
            algorithms=[alg],
            audience=settings.oidc_client_id,
            issuer=settings.jwt_issuer,
            leeway=settings.jwt_leeway_s,
            options={"require": ["exp", "iat", "sub", "nonce"]},
        )
    except jwt.PyJWTError as exc:
        log.info("oidc_id_token_refused", reason=type(exc).__name__)
        return False
    return hmac.compare_digest(str(claims.get("nonce")), nonce)
