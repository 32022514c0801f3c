"""API keys: the credential format, with no I/O.

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

Checking a key at request time is `catalog.apikeys.verify`; its statements are in
`catalog.apikeys.repository`.
"""

from __future__ import annotations

import hashlib
import secrets
import zlib
from datetime import datetime
from typing import Literal

KEY_PREFIX = "catk_"
BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
RANDOM_LENGTH = 32
CHECKSUM_LENGTH = 6  # 62**6 > 2**32: any CRC32 fits
KEY_LENGTH = len(KEY_PREFIX) + RANDOM_LENGTH + CHECKSUM_LENGTH
DISPLAY_PREFIX_LENGTH = len(KEY_PREFIX) + 7
SUBJECT_PREFIX = "api-key:"

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
