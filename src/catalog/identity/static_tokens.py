"""Static bearer tokens from `AUTH_TOKENS_FILE`: one `sha256-hex subject role [team]` a line.

Only hashes are on disk, so the file is not a secret worth stealing. A presented token is
hashed and compared with every entry using `hmac.compare_digest`, so the time an answer takes
does not reveal how much of a hash matched. The file is re-read when its modification time
changes (checked at most once a second): rotating a token needs no restart. Blank lines and
lines starting with `#` are ignored; a malformed line is logged (by number, never its text)
and skipped.

In development, with `ENABLE_AUTH=true` and no credential source configured at all, the
token `test-token` (subject `test-user`, role `admin`) is accepted and a warning is logged;
production never accepts it (and refuses to start with it in the file).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from catalog.core.logging import get_logger
from catalog.identity.credentials import UNKNOWN_TOKEN, InvalidCredentials
from catalog.identity.principal import ROLES, Principal

log = get_logger(__name__)

DEV_TOKEN = "test-token"  # noqa: S105 - the documented development token, never in production
DEV_TOKEN_SHA256 = hashlib.sha256(DEV_TOKEN.encode()).hexdigest()
RECHECK_EVERY_S = 1.0


@dataclass(frozen=True)
class TokenEntry:
    sha256: bytes
    subject: str
    role: str
    team: str | None


def parse_tokens(text: str) -> list[TokenEntry]:
    entries = []
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        digest = fields[0].lower()
        valid = (
            len(fields) in (3, 4)
            and len(digest) == 64
            and all(c in "0123456789abcdef" for c in digest)
            and fields[2] in ROLES
        )
        if not valid:
            log.warning("auth_tokens_line_skipped", line=number)
            continue
        team = fields[3] if len(fields) == 4 else None
        entries.append(TokenEntry(bytes.fromhex(digest), fields[1], fields[2], team))
    return entries


class StaticTokens:
    def __init__(
        self,
        path: Path | None,
        *,
        allow_dev_token: bool,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = path
        self._clock = clock  # when the file was last looked at
        self.allow_dev_token = allow_dev_token
        self._entries: list[TokenEntry] = []
        self._mtime: float | None = None
        self._checked = 0.0
        if allow_dev_token:
            log.warning(
                "auth_dev_token_enabled",
                hint="ENABLE_AUTH=true with no credential source: 'test-token' is accepted "
                "(development only)",
            )
        self._reload_if_changed(force=True)

    def _reload_if_changed(self, force: bool = False) -> None:
        now = self._clock()
        if self.path is None or (not force and now - self._checked < RECHECK_EVERY_S):
            return
        self._checked = now
        try:
            mtime = self.path.stat().st_mtime
        except OSError as exc:
            log.error("auth_tokens_file_unreadable", error=type(exc).__name__)
            return
        if mtime != self._mtime:
            self._entries = parse_tokens(self.path.read_text(encoding="utf-8"))
            self._mtime = mtime
            log.info("auth_tokens_loaded", entries=len(self._entries))

    @property
    def configured(self) -> bool:
        return self.path is not None

    def verify(self, token: str) -> Principal:
        """The principal of a static token, or InvalidCredentials(UNKNOWN_TOKEN)."""
        self._reload_if_changed()
        presented = hashlib.sha256(token.encode()).digest()
        found: TokenEntry | None = None
        for entry in self._entries:  # every entry is compared: no early exit on a match
            if hmac.compare_digest(entry.sha256, presented) and found is None:
                found = entry
        if found is not None:
            return Principal(subject=found.subject, role=found.role, team=found.team, kind="token")
        if self.allow_dev_token and hmac.compare_digest(token.encode(), DEV_TOKEN.encode()):
            return Principal(subject="test-user", role="admin", kind="token")
        raise InvalidCredentials(UNKNOWN_TOKEN, "the bearer token is not valid")
