"""Signing in and out of the web UI (see server/ui_session.py for the cookie)."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response

from catalog.core.errors import CatalogError, Unauthorized
from catalog.server.auth_middleware import CredentialGate
from catalog.server.ui_session import OIDC_START_PATH, SESSION_COOKIE, SIGN_IN_PATH, UI_PREFIX
from catalog.settings import Settings
from catalog.ui.web import UiRoute, field, form_of, is_https, render, resources_of, see_other

router = APIRouter(route_class=UiRoute, include_in_schema=False)


def safe_next(target: str | None) -> str:
    """Only a page of this UI: never another site (`//evil`, `https://...`) or the API."""
    if not target or not target.startswith(UI_PREFIX + "/") or target.startswith("//"):
        return UI_PREFIX + "/"
    if "\\" in target or any(ord(c) < 32 for c in target):
        return UI_PREFIX + "/"
    return target


def oidc_enabled(settings: Settings) -> bool:
    """Whether the sign-in page offers the OIDC provider (ui/oidc.py): auth is on, the issuer
    and its JWKS are known (its tokens are checked as JWTs) and this UI has a client id."""
    return bool(
        settings.enable_auth
        and settings.jwt_issuer
        and settings.jwt_jwks_url
        and settings.oidc_client_id
    )


def set_session_cookie(request: Request, response: Response, credential: str) -> None:
    """Sign the browser in with `credential` (server/ui_session.py)."""
    sessions = resources_of(request).ui_sessions
    response.set_cookie(
        SESSION_COOKIE,
        sessions.dump(credential),
        max_age=sessions.max_age_s,
        httponly=True,
        samesite="lax",
        secure=is_https(request),
        path=UI_PREFIX,
    )


def sign_in_page(
    request: Request,
    next_url: str,
    error: str | None = None,
    status: int = 200,
    notice: str | None = None,
) -> Response:
    settings = resources_of(request).settings
    return render(
        request,
        "sign_in.html",
        status=status,
        next_url=next_url,
        error=error,
        notice=notice,
        max_age_h=settings.ui_session_max_age_s // 3600,
        oidc=oidc_enabled(settings),
        oidc_url=f"{OIDC_START_PATH}?{urlencode({'next': next_url})}",
    )


@router.get(SIGN_IN_PATH)
async def sign_in_form(request: Request, next: str | None = None) -> Response:
    return sign_in_page(request, safe_next(next))


@router.post(SIGN_IN_PATH)
async def sign_in(request: Request) -> Response:
    form = await form_of(request)
    next_url = safe_next(field(form, "next"))
    resources = resources_of(request)
    if not resources.settings.enable_auth:
        return see_other(next_url)
    credential = field(form, "credential")
    if not credential:
        return sign_in_page(request, next_url, "Enter an API key or a token.", 400)
    refusal: CatalogError | None = await CredentialGate(resources.settings).authenticate(
        request.scope, resources, f"Bearer {credential}"
    )
    if isinstance(refusal, Unauthorized):
        return sign_in_page(request, next_url, "That key or token does not sign in.", 401)
    if refusal is not None:
        raise refusal  # locked out after failures (429), identity provider down (503)
    response = see_other(next_url)
    set_session_cookie(request, response, credential)
    return response


@router.post("/ui/sign-out")
async def sign_out(request: Request) -> Response:
    await form_of(request)
    response = see_other(SIGN_IN_PATH if resources_of(request).settings.enable_auth else "/ui/")
    response.delete_cookie(SESSION_COOKIE, path=UI_PREFIX)
    return response
