"""API keys: the credential format and the checker that turns a key into a Principal.

Format (like GitHub's scanning-friendly tokens): `catk_` + 32 random base62 characters from
`secrets` (about 190 bits) + 6 base62 characters of the CRC32 of those 32 characters, 43 in
all. The prefix makes a leaked key recognisable in logs, repositories and chat; the checksum
lets a secret scanner, or `looks_like_key`, tell a real key from look-alike noise offline,
so garbage is refused without a database round trip. The base62 alphabet is
`0-9A-Za-z` in that order; the checksum is left-padded with `0`.

Storage: only the SHA-256 hex of the whole key (`key_hash`, unique) plus a display prefix,
its first 12 characters (`catk_` and 7 random ones), so an owner can recognise a key in a
list. A plain fast hash is enough: the key is random and long, so there is nothing to
brute-force, unlike a password.

Checking (`authenticate_api_key`), in this order: malformed -> `MALFORMED` (no I/O), no row
with that hash -> `UNKNOWN_TOKEN`, revoked -> `REVOKED`, expired -> `EXPIRED`. Keys are read
from the database on every request, never cached, so a revocation takes effect immediately.

`last_used_at` is kept roughly current without a write per request: it is written only when
it is NULL or older than `LAST_USED_RESOLUTION` (5 minutes), by one conditional
`UPDATE api_keys SET last_used_at = :now WHERE id = :id AND (last_used_at IS NULL OR
last_used_at < :threshold)`, so concurrent requests with the same key write it at most once
per window. Most requests issue only the SELECT: `check_api_key` reads (in a read session, so
on SQLite it does not queue for the write lock) and says whether the key is due a touch;
`touch_last_used` writes it, in a write session, only then.

This module lives below the domain packages (the auth middleware calls it), so its two
statements are here rather than in `catalog.admin.repository`.
"""

from __future__ import annotations

import hashlib
import secrets
import zlib
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.db.models import ApiKey
from catalog.kit.time import utcnow
from catalog.platform.auth.credentials import (
    EXPIRED,
    MALFORMED,
    REVOKED,
    UNKNOWN_TOKEN,
    InvalidCredentials,
)
from catalog.platform.principal import Principal

KEY_PREFIX = "catk_"
BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
RANDOM_LENGTH = 32
CHECKSUM_LENGTH = 6  # 62**6 > 2**32: any CRC32 fits
KEY_LENGTH = len(KEY_PREFIX) + RANDOM_LENGTH + CHECKSUM_LENGTH
DISPLAY_PREFIX_LENGTH = len(KEY_PREFIX) + 7
LAST_USED_RESOLUTION = timedelta(minutes=5)
SUBJECT_PREFIX = "api-key:"
KIND = "api_key"

KeyStatus = Literal["active", "revoked", "expired"]
_BASE62_SET = frozenset(BASE62)


def _base62(number: int, width: int) -> str:
    digits = []
    while number:
        number, digit = divmod(number, 62)
        digits.append(BASE62[digit])
    return "".join(reversed(digits)).rjust(width, BASE62[0])


def _checksum(random_part: str) -> str:
    return _base62(zlib.crc32(random_part.encode("ascii")), CHECKSUM_LENGTH)


def generate_key() -> tuple[str, str, str]:
    """A new key: (the full key, shown once; its display prefix; its SHA-256 hex)."""
    random_part = "".join(secrets.choice(BASE62) for _ in range(RANDOM_LENGTH))
    key = KEY_PREFIX + random_part + _checksum(random_part)
    return key, key[:DISPLAY_PREFIX_LENGTH], hash_key(key)


def looks_like_key(token: str) -> bool:
    """Prefix, length, alphabet and checksum of a key; no I/O, no secret compared."""
    if len(token) != KEY_LENGTH or not token.startswith(KEY_PREFIX):
        return False
    body = token[len(KEY_PREFIX) :]
    if not _BASE62_SET.issuperset(body):
        return False
    return _checksum(body[:RANDOM_LENGTH]) == body[RANDOM_LENGTH:]


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def subject_of(name: str) -> str:
    """The principal's subject for the key named `name` (what audit events record)."""
    return SUBJECT_PREFIX + name


def key_status(
    revoked_at: datetime | None, expires_at: datetime | None, now: datetime
) -> KeyStatus:
    """Revoked wins over expired; a key expires at `expires_at` exactly."""
    if revoked_at is not None:
        return "revoked"
    if expires_at is not None and expires_at <= now:
        return "expired"
    return "active"


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
    row = (
        await session.execute(
            select(
                ApiKey.id,
                ApiKey.name,
                ApiKey.role,
                ApiKey.team,
                ApiKey.revoked_at,
                ApiKey.expires_at,
                ApiKey.last_used_at,
            ).where(ApiKey.key_hash == hash_key(token))
        )
    ).first()
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
    # Conditional in SQL too: of concurrent requests that all saw a stale value, one writes.
    now = utcnow()
    threshold = now - LAST_USED_RESOLUTION
    await session.execute(
        update(ApiKey)
        .where(
            ApiKey.id == key_id,
            or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at < threshold),
        )
        .values(last_used_at=now)
        .execution_options(synchronize_session=False)
    )
