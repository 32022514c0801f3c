"""The web UI's session and CSRF cookies.

Signing in on `/ui/sign-in` puts the credential the person typed (a static token, an API key
or a JWT) into a cookie signed with itsdangerous and stamped with its issue time. On every
`/ui` request the auth middleware takes the credential back out of the cookie and checks it
with the same authenticator as an `Authorization` header, so a revoked key or an expired JWT
signs the browser out at once and the roles are exactly the API's. The cookie is `HttpOnly`
(no script reads it), `SameSite=Lax` and `Secure` when the request came over HTTPS.

Why the credential itself and not a server-side session id: nothing to store, nothing to
expire in a table, and the authenticator stays the only judge of who someone is.

CSRF: every form carries a token signed with the same key and bound to the session cookie (or,
signed out, to a random per-browser cookie), checked on every UI form post.

The signing key is `CATALOG_UI_SESSION_SECRET`; without it, a random key is created once in a
file beside the search index (`ui-session.key`, mode 0600), which the workers of one host share.
Replicas on several hosts need the variable.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import hmac
import os
import secrets
from http.cookies import CookieError, SimpleCookie
from pathlib import Path
from typing import Any

from itsdangerous import BadSignature, TimestampSigner, URLSafeTimedSerializer
from starlette.types import Scope

from catalog.core.clock import Clock
from catalog.search.directory import default_root
from catalog.settings import Settings

UI_PREFIX = "/ui"
SESSION_COOKIE = "catalog_session"
BROWSER_COOKIE = "catalog_browser"  # random, names a signed-out browser for CSRF
SIGN_IN_PATH = "/ui/sign-in"
# Signing in through the OIDC provider (ui/oidc.py): the way there and the way back.
OIDC_START_PATH = "/ui/sign-in/oidc"
OIDC_CALLBACK_PATH = "/ui/oidc/callback"
STATIC_PREFIX = "/ui/static/"
KEY_FILE = "ui-session.key"


def is_ui_path(path: str) -> bool:
    return path == UI_PREFIX or path.startswith(UI_PREFIX + "/")


def is_public_ui_path(path: str) -> bool:
    """Pages anyone may load: the sign-in form, the way in through the OIDC provider and the
    static assets."""
    return path in (SIGN_IN_PATH, OIDC_START_PATH, OIDC_CALLBACK_PATH) or path.startswith(
        STATIC_PREFIX
    )


def cookie_of(scope: Scope, name: str) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == b"cookie":
            jar: SimpleCookie = SimpleCookie()
            with contextlib.suppress(CookieError):
                jar.load(value.decode("latin-1"))
            morsel = jar.get(name)
            if morsel is not None and morsel.value:
                return morsel.value
    return None


def session_secret(settings: Settings) -> bytes:
    if settings.ui_session_secret:
        return settings.ui_session_secret.encode()
    path = default_root(settings) / KEY_FILE
    return _key_from_file(path)


def _key_from_file(path: Path) -> bytes:
    """The host's key, created by whichever worker comes first. The key is written to a file
    of this process's own and then hard-linked into place, which fails if the name exists: the
    file appears complete or not at all, so no worker ever reads a half-written key."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        draft = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
        try:
            os.link(draft, path)
        except FileExistsError:
            pass  # another worker's key won
        finally:
            draft.unlink()
    key = path.read_text().strip()
    if not key:
        raise RuntimeError(f"{path} is empty: delete it, or set CATALOG_UI_SESSION_SECRET")
    return key.encode()


class SessionCodec:
    """Signs and reads the session cookie and the CSRF tokens with one key (found on first
    use, so an app that never serves a page never creates the key file)."""

    def __init__(self, settings: Settings, clock: Clock) -> None:
        self.settings = settings
        self.max_age_s = settings.ui_session_max_age_s
        self.clock = clock

    @functools.cached_property
    def _secret(self) -> bytes:
        return session_secret(self.settings)

    @functools.cached_property
    def _signer(self) -> type[TimestampSigner]:
        clock = self.clock

        class ClockedSigner(TimestampSigner):
            """Issue times and expiry read the injected clock (tests move it)."""

            def get_timestamp(self) -> int:
                return int(clock.time())

        return ClockedSigner

    @functools.cached_property
    def _serializer(self) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(self._secret, salt="catalog-ui-session", signer=self._signer)

    @functools.cached_property
    def _csrf_key(self) -> bytes:
        return hashlib.sha256(b"catalog-ui-csrf\x00" + self._secret).digest()

    def dump(self, credential: str) -> str:
        return self._serializer.dumps(credential)

    def load(self, value: str) -> str | None:
        """The credential, or None when the signature is wrong or the session has expired."""
        try:
            credential = self._serializer.loads(value, max_age=self.max_age_s)
        except BadSignature:  # SignatureExpired is one
            return None
        return credential if isinstance(credential, str) and credential else None

    def dump_value(self, value: Any, salt: str) -> str:
        """Any JSON value, signed with the session key under its own `salt` (so a value signed
        for one purpose is never accepted as another) and stamped with the time."""
        return URLSafeTimedSerializer(self._secret, salt=salt, signer=self._signer).dumps(value)

    def load_value(self, value: str, salt: str, max_age_s: int) -> Any | None:
        """The value `dump_value` signed with `salt`, or None: wrong signature or too old."""
        serializer = URLSafeTimedSerializer(self._secret, salt=salt, signer=self._signer)
        try:
            return serializer.loads(value, max_age=max_age_s)
        except BadSignature:  # SignatureExpired is one
            return None

    def csrf_token(self, binding: str) -> str:
        return hmac.new(self._csrf_key, binding.encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, binding: str | None, token: str | None) -> bool:
        if not binding or not token:
            return False
        return hmac.compare_digest(self.csrf_token(binding), token)
