"""Authentication as pure ASGI middleware: every route but the public ones needs a principal.

With `ENABLE_AUTH=true`, a request outside `PUBLIC_PATHS` must carry
`Authorization: Bearer <credential>`: a static token, an API key (`catk_...`) or a JWT. The
principal found is left in `scope["state"]["principal"]`, where `RequireRole`
(server/roles.py) reads it.
Answers follow RFC 6750: no credentials -> 401 `WWW-Authenticate: Bearer realm="catalog"`; a
bad one -> 401 with `error="invalid_token"`; a malformed header -> 401 `invalid_request`.

Web UI (`/ui`): the credential may come from the signed session cookie instead
(server/ui_session.py); it is checked exactly like a header's. A page asked for without one,
or with one that no longer signs in, is redirected (303) to `/ui/sign-in?next=<page>`, and a
bad cookie is cleared. The sign-in page and the static assets are public.

Brute-force guard: failed attempts draw from a per-client bucket of their own
(`CATALOG_AUTH_FAILURES_PER_MINUTE`, burst `CATALOG_AUTH_FAILURES_BURST`); while it is empty
every attempt from that client, even a correct one, is refused with 429, so guessing gains
nothing. Every failure is counted (`catalog_auth_failures_total{reason}`) and audited.
"""

from __future__ import annotations

from urllib.parse import urlencode

from prometheus_client import Counter
from starlette.types import ASGIApp, Receive, Scope, Send

from catalog.core.client_address import client_identity
from catalog.core.errors import CatalogError, ServiceUnavailable, Unauthorized, send_error
from catalog.core.logging import get_logger
from catalog.identity.credentials import (
    JWKS_UNAVAILABLE,
    MALFORMED,
    MISSING,
    InvalidCredentials,
)
from catalog.identity.principal import Principal
from catalog.kit.audit_trail import record_outside_request
from catalog.ratelimit.buckets import Check, Limit
from catalog.ratelimit.middleware import too_many_requests
from catalog.server.resources import Resources
from catalog.server.ui_session import (
    SESSION_COOKIE,
    SIGN_IN_PATH,
    cookie_of,
    is_public_ui_path,
    is_ui_path,
)
from catalog.settings import Settings

log = get_logger(__name__)

FAILURES = Counter(
    "catalog_auth_failures_total", "Failed authentication or authorization", ("reason",)
)
PUBLIC_PATHS = frozenset(
    {
        "/",  # only redirects to the web UI
        "/livez",
        "/readyz",
        "/healthz",
        "/metrics",
        "/docs",
        "/docs/oauth2-redirect",
        "/redoc",
        "/openapi.json",
    }
)
REALM = 'Bearer realm="catalog"'


def challenge(error: str | None = None, description: str | None = None) -> str:
    parts = [REALM]
    if error:
        parts.append(f'error="{error}"')
    if description:
        parts.append(f'error_description="{description}"')
    return ", ".join(parts)


class CredentialGate:
    """Checks one credential with the brute-force guard, the audit of failures and the
    principal's budget: for the middleware, and for the UI's sign-in form (ui/sign_in.py)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.failure_limit = Limit(
            "auth", settings.auth_failures_per_minute / 60.0, settings.auth_failures_burst
        )
        rps = settings.rate_limit_per_principal_rps
        self.principal_limit = (
            Limit("principal", rps, settings.rate_limit_principal_burst) if rps else None
        )

    async def authenticate(
        self, scope: Scope, resources: Resources, header: str | None
    ) -> CatalogError | None:
        if header is None:
            return await self._fail(
                scope, resources, MISSING, "credentials are required", challenge()
            )
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return await self._fail(
                scope,
                resources,
                MALFORMED,
                "use Authorization: Bearer <token>",
                challenge("invalid_request"),
            )
        _, client = client_identity(scope, self.settings.trusted_proxies)
        guard = [Check(self.failure_limit, f"authfail:{client}")]
        if not (await resources.rate_limiter.decide(guard, consume=False)).allowed:
            FAILURES.labels("locked_out").inc()
            decision = await resources.rate_limiter.decide(guard, consume=False)
            return too_many_requests(guard, decision, "too many failed sign-in attempts")
        try:
            principal = await resources.authenticator.authenticate(token)
        except InvalidCredentials as exc:
            if exc.reason == JWKS_UNAVAILABLE:
                FAILURES.labels(exc.reason).inc()
                return ServiceUnavailable(
                    "the identity provider's keys cannot be fetched",
                    retry_after=self.settings.unavailable_retry_after_s,
                )
            await resources.rate_limiter.decide(guard)  # a failure costs a token
            return await self._fail(
                scope,
                resources,
                exc.reason,
                exc.description,
                challenge("invalid_token", exc.description),
            )
        scope["state"]["principal"] = principal
        return await self._principal_budget(principal, resources)

    async def _principal_budget(
        self, principal: Principal, resources: Resources
    ) -> CatalogError | None:
        """The principal's own bucket, when `CATALOG_RATE_LIMIT_PER_PRINCIPAL_RPS` is set."""
        if self.principal_limit is None:
            return None
        checks = [Check(self.principal_limit, f"principal:{principal.subject}")]
        decision = await resources.rate_limiter.decide(checks)
        return None if decision.allowed else too_many_requests(checks, decision)

    async def _fail(
        self, scope: Scope, resources: Resources, reason: str, description: str, header: str
    ) -> CatalogError:
        FAILURES.labels(reason).inc()
        await record_outside_request(
            resources.write_sessions,
            resources.settings.dependency_timeout_s,
            scope,
            "auth_failure",
            details={"reason": reason, "path": scope["path"], "method": scope["method"]},
        )
        return Unauthorized(description, headers={"WWW-Authenticate": header})


class AuthMiddleware:
    def __init__(self, app: ASGIApp, *, settings: Settings) -> None:
        self.app = app
        self.gate = CredentialGate(settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in PUBLIC_PATHS:
            await self.app(scope, receive, send)
            return
        resources: Resources = scope["state"]["catalog"]
        if is_ui_path(scope["path"]) and _authorization(scope) is None:
            await self._ui_request(scope, receive, send, resources)
            return
        refusal = await self.gate.authenticate(scope, resources, _authorization(scope))
        if refusal is not None:
            await send_error(scope, send, refusal)
            return
        await self.app(scope, receive, send)

    async def _ui_request(
        self, scope: Scope, receive: Receive, send: Send, resources: Resources
    ) -> None:
        """A page: the session cookie's credential, or the way to the sign-in page."""
        if is_public_ui_path(scope["path"]):
            await self.app(scope, receive, send)
            return
        cookie = cookie_of(scope, SESSION_COOKIE)
        credential = resources.ui_sessions.load(cookie) if cookie else None
        if credential is None:
            await send_to_sign_in(scope, send, clear=cookie is not None)
            return
        refusal = await self.gate.authenticate(scope, resources, f"Bearer {credential}")
        if isinstance(refusal, Unauthorized):
            await send_to_sign_in(scope, send, clear=True)
        elif refusal is not None:
            await send_error(scope, send, refusal)
        else:
            await self.app(scope, receive, send)


async def send_to_sign_in(scope: Scope, send: Send, *, clear: bool) -> None:
    """303 to the sign-in page, which sends the person back here afterwards."""
    target = scope["path"]
    if scope.get("query_string"):
        target += "?" + scope["query_string"].decode("latin-1")
    headers = [
        (b"location", f"{SIGN_IN_PATH}?{urlencode({'next': target})}".encode("latin-1")),
        (b"content-length", b"0"),
        (b"cache-control", b"no-store"),
    ]
    if clear:
        headers.append((b"set-cookie", f"{SESSION_COOKIE}=; Max-Age=0; Path=/ui".encode()))
    await send({"type": "http.response.start", "status": 303, "headers": headers})
    await send({"type": "http.response.body", "body": b""})


def _authorization(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            return bytes(value).decode("latin-1")
    return None
