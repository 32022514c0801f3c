"""One bearer token, three kinds of credential: tell them apart and ask the right checker.

API keys are recognised by their prefix and checksum (no lookup for anything else), JWTs by
their three dot-separated parts, and anything else is tried as a static token. The API-key
checker is handed in (`catalog.apikeys.verify.ApiKeyVerifier`, built by catalog.server.resources):
API keys are a domain package above this layer.
"""

from __future__ import annotations

from typing import Protocol

import httpx

from catalog.core.clock import Clock, SystemClock
from catalog.identity.jwt import JwtVerifier
from catalog.identity.principal import Principal
from catalog.identity.static_tokens import StaticTokens
from catalog.observability.tracing import instrument_httpx
from catalog.settings import Settings


def dev_token_allowed(settings: Settings) -> bool:
    """`test-token` only in development, and only when no credential source is configured."""
    return (
        not settings.is_production
        and settings.auth_tokens_file is None
        and settings.jwt_jwks_url is None
    )


class ApiKeyChecker(Protocol):
    def recognises(self, token: str) -> bool:
        """Whether `token` has the form of an API key (no I/O)."""
        ...

    async def authenticate(self, token: str) -> Principal:
        """The key's principal, or `InvalidCredentials` saying why not."""
        ...


class Authenticator:
    def __init__(
        self, settings: Settings, api_keys: ApiKeyChecker, *, clock: Clock | None = None
    ) -> None:
        self.api_keys = api_keys
        clock = clock or SystemClock()
        self.static = StaticTokens(
            settings.auth_tokens_file,
            allow_dev_token=settings.enable_auth and dev_token_allowed(settings),
            clock=clock.monotonic,
        )
        self.jwt: JwtVerifier | None = None
        self._jwks_http: httpx.AsyncClient | None = None
        if settings.jwt_jwks_url:
            self._jwks_http = httpx.AsyncClient(timeout=2.0)
            instrument_httpx(self._jwks_http, keep_path=True)
            self.jwt = JwtVerifier(settings, self._jwks_http, clock=clock.monotonic)

    async def authenticate(self, token: str) -> Principal:
        if self.api_keys.recognises(token):
            return await self.api_keys.authenticate(token)
        if self.jwt is not None and token.count(".") == 2:
            return await self.jwt.verify(token)
        return self.static.verify(token)

    async def aclose(self) -> None:
        if self.jwt is not None:
            await self.jwt.aclose()
        if self._jwks_http is not None:
            await self._jwks_http.aclose()
