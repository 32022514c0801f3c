"""Rendering a page: templates, the security headers every UI answer carries, CSRF on forms,
and the HTML error page (the API's JSON envelope is for programs; people get a page).

Every page handler returns `render(request, "page.html", ...)` or `see_other(url)`; routers use
`UiRoute`, which turns a CatalogError or a validation error into the error page with the same
status, and adds the security headers to whatever the handler answered.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Coroutine, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import jinja2
from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from markdown_it import MarkdownIt
from markupsafe import Markup, escape
from starlette.datastructures import FormData

from catalog.core.client_address import forwarded_https
from catalog.core.errors import CatalogError, Forbidden
from catalog.identity.principal import actor_of
from catalog.server.resources import Resources
from catalog.server.ui_session import BROWSER_COOKIE, SESSION_COOKIE, UI_PREFIX
from catalog.ui.assets import asset_url

# No inline script or style anywhere: scripts and styles come from our own files only.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}
PAGE_CACHE = "private, no-cache"  # pages show what this person may see: never shared

# CommonMark with raw HTML off: `<script>` in a description shows as text, and markdown-it's
# link check refuses javascript:, vbscript: and data: (but images) URLs.
_MARKDOWN = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})

TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def markdown(text: str | None) -> Markup:
    return Markup(_MARKDOWN.render(text or ""))  # noqa: S704 - html is off: all text is escaped


def highlight(text: str | None, terms: Iterable[str], limit: int = 240) -> Markup:
    """`text` cut to about `limit` characters around the first match, escaped, with every word
    that starts with one of `terms` marked."""
    text = (text or "").strip()
    words = [re.escape(term) for term in terms if term]
    if not words:
        return escape(_cut(text, 0, limit))
    pattern = re.compile(r"\b(?:" + "|".join(words) + r")\w*", re.IGNORECASE)
    first = pattern.search(text)
    text = _cut(text, first.start() if first else 0, limit)
    out, last = [], 0
    for match in pattern.finditer(text):
        out.append(escape(text[last : match.start()]))
        out.append(Markup("<mark>%s</mark>") % match.group(0))
        last = match.end()
    out.append(escape(text[last:]))
    return Markup("").join(out)


def _cut(text: str, around: int, limit: int) -> str:
    if len(text) <= limit:
        return text
    start = max(0, min(around - limit // 3, len(text) - limit))
    piece = text[start : start + limit]
    return ("…" if start else "") + piece + ("…" if start + limit < len(text) else "")


def when(value: datetime | str | None) -> str:
    """A timestamp as people read it (UTC, to the minute)."""
    if value is None:
        return "—"
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value.strftime("%Y-%m-%d %H:%M UTC")


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f}%" if value <= 1 else f"{value:.0f}"


TEMPLATES.globals["asset_url"] = asset_url
TEMPLATES.filters["markdown"] = markdown
TEMPLATES.filters["highlight"] = highlight
TEMPLATES.filters["when"] = when
TEMPLATES.filters["percent"] = percent


class PageLinks:
    """Links to this page with some parameters changed (None drops one; a parameter equal to
    its default is left out). Each parameter is encoded once: a search page makes ~80 links
    (facet values, tags, pages)."""

    def __init__(
        self, path: str, current: dict[str, Any], defaults: dict[str, Any] | None = None
    ) -> None:
        self.path = path
        self.defaults = defaults or {}
        self.encoded = {key: self._pair(key, value) for key, value in current.items()}

    def _pair(self, key: str, value: Any) -> str | None:
        if value in (None, "", 0) or self.defaults.get(key) == value:
            return None
        return f"{key}={quote_plus(str(value))}"

    def __call__(self, **changes: Any) -> str:
        pairs = [
            self._pair(key, changes[key]) if key in changes else encoded
            for key, encoded in self.encoded.items()
        ]
        pairs += [
            self._pair(key, value) for key, value in changes.items() if key not in self.encoded
        ]
        query = "&".join(pair for pair in pairs if pair)
        return self.path + ("?" + query if query else "")


def resources_of(request: Request) -> Resources:
    resources: Resources = request.state.catalog
    return resources


def is_https(request: Request) -> bool:
    """Whether cookies get `Secure`: HTTPS here, or at a trusted proxy in front of us."""
    if request.url.scheme == "https":
        return True
    return forwarded_https(request.scope, resources_of(request).settings.trusted_proxies)


def _csrf_binding(request: Request) -> tuple[str, str | None]:
    """What this browser's CSRF tokens are bound to: its session cookie when signed in, else
    a random cookie of its own (the second value: one to set now)."""
    session = request.cookies.get(SESSION_COOKIE)
    if session:
        return session, None
    browser = request.cookies.get(BROWSER_COOKIE)
    if browser:
        return browser, None
    fresh = secrets.token_urlsafe(24)
    return fresh, fresh


def render(request: Request, template: str, *, status: int = 200, **context: Any) -> Response:
    resources = resources_of(request)
    binding, new_browser_cookie = _csrf_binding(request)
    actor = actor_of(request)
    html = TEMPLATES.get_template(template).render(
        request=request,
        actor=actor,
        auth_enabled=resources.settings.enable_auth,
        signed_in=bool(request.cookies.get(SESSION_COOKIE)),
        csrf=resources.ui_sessions.csrf_token(binding),
        path=request.url.path,
        **context,
    )
    response = HTMLResponse(html, status_code=status, headers={"Cache-Control": PAGE_CACHE})
    if new_browser_cookie:
        response.set_cookie(
            BROWSER_COOKIE,
            new_browser_cookie,
            httponly=True,
            samesite="strict",
            secure=is_https(request),
            path=UI_PREFIX,
        )
    return response


async def form_of(request: Request) -> FormData:
    """The posted form, after its CSRF token is checked (403 otherwise)."""
    form = await request.form()
    token = form.get("csrf")
    binding = request.cookies.get(SESSION_COOKIE) or request.cookies.get(BROWSER_COOKIE)
    codec = resources_of(request).ui_sessions
    if not codec.csrf_ok(binding, token if isinstance(token, str) else None):
        raise Forbidden(
            "this form was not sent from this site's page, or the page is too old: "
            "reload it and try again"
        )
    return form


def field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def see_other(url: str) -> RedirectResponse:
    """After a form post: go to the page showing its result (303, so a reload does not
    post again)."""
    return RedirectResponse(url, status_code=303)


def error_page(request: Request, status: int, message: str, details: list[str]) -> Response:
    return render(
        request, "error.html", status=status, status_code=status, message=message, details=details
    )


class UiRoute(APIRoute):
    """A page route: errors become the error page, every answer gets the security headers."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page(request: Request) -> Response:
            try:
                response = await handler(request)
            except CatalogError as exc:
                response = error_page(request, exc.status, exc.details, [])
                response.headers.update(exc.headers)
                if exc.retry_after is not None:
                    response.headers["Retry-After"] = str(exc.retry_after)
            except RequestValidationError as exc:
                details = [
                    f"{'.'.join(str(p) for p in error['loc'][1:])}: {error['msg']}"
                    for error in exc.errors()
                ]
                response = error_page(request, 400, "Some of the request is not valid", details)
            for name, value in SECURITY_HEADERS.items():
                response.headers.setdefault(name, value)
            return response

        return page
