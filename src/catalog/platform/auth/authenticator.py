"""One bearer token, three kinds of credential: tell them apart and ask the right checker.

API keys are recognised by their prefix and checksum (no lookup for anything else), JWTs by
their three dot-separated parts, and anything else is tried as a static token.
"""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy.ext.asyncio import async_sessionmaker

from catalog.kit.clock import Clock, SystemClock
from catalog.platform.auth.apikeys import check_api_key, looks_like_key, touch_last_used
from catalog.platform.auth.jwt import JwtVerifier
from catalog.platform.auth.static_tokens import StaticTokens
from catalog.platform.principal import Principal
from catalog.platform.tracing import instrument_httpx
from catalog.settings import Settings


def dev_token_allowed(settings: Settings) -> bool:
    """`test-token` only in development, and only when no credential source is configured."""
    return (
        not settings.is_production
        and settings.auth_tokens_file is None
        and settings.jwt_jwks_url is None
    )


class Authenticator:
    def __init__(
        self,
        settings: Settings,
        read_sessions: async_sessionmaker[Any],
        write_sessions: async_sessionmaker[Any],
        *,
        clock: Clock | None = None,
    ) -> None:
        self.read_sessions = read_sessions
        self.write_sessions = write_sessions
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
        if looks_like_key(token):
            async with self.read_sessions() as session, session.begin():
                principal, due = await check_api_key(session, token)
            if due is not None:  # at most once per key every few minutes
                async with self.write_sessions() as session, session.begin():
                    await touch_last_used(session, due)
            return principal
        if self.jwt is not None and token.count(".") == 2:
            return await self.jwt.verify(token)
        return self.static.verify(token)

    async def aclose(self) -> None:
        if self.jwt is not None:
            await self.jwt.aclose()
        if self._jwks_http is not None:
            await self._jwks_http.aclose()
