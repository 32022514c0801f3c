"""Checking an API key at request time: the authenticator's `ApiKeyVerifier`.

In this order: malformed -> `MALFORMED` (no I/O), no row with that hash -> `UNKNOWN_TOKEN`,
revoked -> `REVOKED`, expired -> `EXPIRED`. Keys are read from the database on every request,
never cached, so a revocation takes effect immediately.

`last_used_at` is kept roughly current without a write per request: it is written only when
it is NULL or older than `LAST_USED_RESOLUTION` (5 minutes), by one conditional
`UPDATE api_keys SET last_used_at = :now WHERE id = :id AND (last_used_at IS NULL OR
last_used_at < :threshold)`, so concurrent requests with the same key write it at most once
per window. Most requests issue only the SELECT: `check_api_key` reads (in a read session, so
on SQLite it does not queue for the write lock) and says whether the key is due a touch;
`touch_last_used` writes it, in a write session, only then.

The authenticator (catalog.identity.authenticator) sits below the domain packages, so it
does not import this module: `catalog.server.resources` hands it an `ApiKeyVerifier`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from catalog.apikeys.keys import hash_key, key_status, looks_like_key, subject_of
from catalog.apikeys.repository import ApiKeyRepository
from catalog.core.time import utcnow
from catalog.identity.credentials import (
    EXPIRED,
    MALFORMED,
    REVOKED,
    UNKNOWN_TOKEN,
    InvalidCredentials,
)
from catalog.identity.principal import Principal

LAST_USED_RESOLUTION = timedelta(minutes=5)
KIND = "api_key"


async def authenticate_api_key(session: AsyncSession, token: str) -> Principal:
    """`check_api_key` and, when due, `touch_last_used` in one (writable) session; the caller
    commits."""
    principal, due = await check_api_key(session, token)
    if due is not None:
        await touch_last_used(session, due)
    return principal


async def check_api_key(session: AsyncSession, token: str) -> tuple[Principal, str | None]:
    """The principal of an active key (or `InvalidCredentials` saying why not), and the key's
    id when its `last_used_at` is due to be written (else None). Reads only."""
    if not looks_like_key(token):
        raise InvalidCredentials(MALFORMED, "the API key is malformed")
    row = await ApiKeyRepository(session).credential(hash_key(token))
    if row is None:
        raise InvalidCredentials(UNKNOWN_TOKEN, "the API key is not known")
    now = utcnow()
    status = key_status(row.revoked_at, row.expires_at, now)
    if status == "revoked":
        raise InvalidCredentials(REVOKED, "the API key has been revoked")
    if status == "expired":
        raise InvalidCredentials(EXPIRED, "the API key has expired")
    due = row.last_used_at is None or row.last_used_at < now - LAST_USED_RESOLUTION
    principal = Principal(subject=subject_of(row.name), role=row.role, team=row.team, kind=KIND)
    return principal, row.id if due else None


async def touch_last_used(session: AsyncSession, key_id: str) -> None:
    now = utcnow()
    await ApiKeyRepository(session).touch_last_used(key_id, now, now - LAST_USED_RESOLUTION)


class ApiKeyVerifier:
    """What the authenticator asks of API keys: is this token one, and whose is it."""

    def __init__(
        self, read_sessions: async_sessionmaker[Any], write_sessions: async_sessionmaker[Any]
    ) -> None:
        self.read_sessions = read_sessions
        self.write_sessions = write_sessions

    def recognises(self, token: str) -> bool:
        """Prefix, length, alphabet and checksum: no I/O for anything else."""
        return looks_like_key(token)

    async def authenticate(self, token: str) -> Principal:
        async with self.read_sessions() as session, session.begin():
            principal, due = await check_api_key(session, token)
        if due is not None:  # at most once per key every few minutes
            async with self.write_sessions() as session, session.begin():
                await touch_last_used(session, due)
        return principal
