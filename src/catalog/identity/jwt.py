"""JWT bearer credentials, signed by the identity provider whose JWKS is at `JWT_JWKS_URL`.

Why hand-written around PyJWT instead of `jwt.PyJWKClient`: that client fetches the JWKS with
urllib, synchronously. Called from a request it would block the event loop, and with it every
other request, for as long as the identity provider (IdP) takes to answer. So fetching and
caching live here, on httpx's async client, and PyJWT does what it is good at: building keys
from JWKS entries (`jwt.PyJWK`) and checking signatures and registered claims (`jwt.decode`).

Keys: caching and refresh
- The JWKS is fetched on first use (timeout 2 s) and its keys are cached by `kid` for
  `jwks_cache_ttl_s` (default 600 s). Concurrent requests that find the cache empty or
  stale share one fetch.
- A token whose `kid` is not cached triggers one refetch (the IdP may have rotated its
  keys), at most once per 30 s for the whole verifier, so a flood of made-up kids costs the
  IdP one request per 30 s. Still unknown -> `unknown_kid`.
- A failed fetch with nothing cached -> `jwks_unavailable`; for the next 5 s further
  requests fail the same way at once instead of each waiting out another timeout. Cached keys
  past their TTL go on being used while refreshing fails, for at most one more TTL, so a
  short IdP outage does not log everybody out; after that -> `jwks_unavailable`.
- Entries that cannot verify our tokens are skipped (logged by kid, never their content):
  whatever `jwt.PyJWK` rejects, symmetric (`oct`) keys, encryption keys (`use: enc`), entries
  carrying private key material and RSA keys shorter than 2048 bits.
- Keys come from the configured URL only: a token's `jku`, `x5u`, `jwk` or `x5c` header is
  never followed.

Algorithms (checked on the unverified header, before any key is looked at)
- `alg` must be in `jwt_algorithms` and asymmetric. The settings list itself may only name
  asymmetric algorithms (ValueError at construction otherwise): an HMAC "verified" with the
  public key as its secret is the classic key-confusion attack, since anybody can read the
  public key and so sign with it. `none` is never accepted.
- `alg` must fit the key: the JWK's own `alg` when it declares one, else its key type (RSA for
  RS*/PS*, EC on the algorithm's curve for ES*, OKP for EdDSA).
- A token without `kid` is accepted only when the JWKS holds exactly one usable key.

Claims
- `exp` and `sub` are required; `exp`, `nbf` and `iat` are checked with `jwt_leeway_s` of
  leeway for clock skew.
- `iss` is checked only when `JWT_ISSUER` is set and `aud` only when `JWT_AUDIENCE` is set;
  unset, any issuer or audience is accepted (the JWKS alone decides whose tokens these are).
- Role: the claim `jwt_role_claim` (default `roles`), a string or a list of strings, found
  first as a top-level claim of exactly that name (so namespaced claims such as
  `https://example.com/roles` work), else as a dotted path into nested objects
  (`realm_access.roles`). Each name goes through `jwt_role_map`; names equal to a catalog role
  map to themselves unless the map says otherwise. The highest mapped role wins; none ->
  `no_role`.
- Team: the claim `jwt_team_claim` (default `team`, same lookup), a string or a list of
  exactly one string; anything else means no team.
- Subject and team longer than the database's name columns are rejected as malformed.

Descriptions of `InvalidCredentials` never contain the token or any claim value from it.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import jwt

from catalog.core.breaker import CircuitBreaker, CircuitOpen
from catalog.core.logging import get_logger
from catalog.db.models.base import NAME_LENGTH
from catalog.identity.credentials import (
    ALGORITHM_NOT_ALLOWED,
    BAD_SIGNATURE,
    EXPIRED,
    JWKS_UNAVAILABLE,
    MALFORMED,
    NO_ROLE,
    NOT_YET_VALID,
    UNKNOWN_KEY,
    WRONG_AUDIENCE,
    WRONG_ISSUER,
    InvalidCredentials,
)
from catalog.identity.principal import ROLES, Principal
from catalog.settings import Settings

log = get_logger(__name__)

FETCH_TIMEOUT_S = 2.0
UNKNOWN_KID_REFETCH_EVERY_S = 30.0
RETRY_AFTER_FAILED_FETCH_S = 5.0
MAX_JWKS_BYTES = 1024 * 1024
MAX_TOKEN_CHARS = 16 * 1024
MIN_RSA_BITS = 2048

# The asymmetric algorithms PyJWT implements, with the key each needs: (kty, crv or None).
KEY_FOR_ALGORITHM: dict[str, tuple[str, str | None]] = {
    **{f"{family}{bits}": ("RSA", None) for family in ("RS", "PS") for bits in (256, 384, 512)},
    "ES256": ("EC", "P-256"),
    "ES256K": ("EC", "secp256k1"),
    "ES384": ("EC", "P-384"),
    "ES512": ("EC", "P-521"),
    "EdDSA": ("OKP", None),
}
_PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "k")


@dataclass(frozen=True)
class SigningKey:
    kid: str | None
    kty: str
    crv: str | None
    declared_alg: str | None  # the JWK's own `alg`, when it names one
    key: Any  # a cryptography public key object, as built by jwt.PyJWK

    def fits(self, alg: str) -> bool:
        if self.declared_alg is not None:
            return self.declared_alg == alg
        kty, crv = KEY_FOR_ALGORITHM[alg]
        return self.kty == kty and (crv is None or self.crv == crv)


@dataclass(frozen=True)
class KeySet:
    keys: tuple[SigningKey, ...]
    fetched_at: float

    def find(self, kid: str | None) -> SigningKey | None:
        if kid is None:
            return self.keys[0] if len(self.keys) == 1 else None
        return next((key for key in self.keys if key.kid == kid), None)


class JwksUnavailable(Exception):
    """The JWKS could not be fetched or is not a JWKS; the message names no secret."""


class JwtVerifier:
    """Turns a JWT into a Principal, or raises InvalidCredentials (see the module docstring).

    `http` is used as given and left open by `aclose()`; without one the verifier makes (and
    closes) its own. `clock` (monotonic seconds) drives the cache and refetch timing only;
    token times are checked by PyJWT against the wall clock.
    """

    def __init__(
        self,
        settings: Settings,
        http: httpx.AsyncClient | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not settings.jwt_jwks_url:
            raise ValueError("JwtVerifier needs JWT_JWKS_URL")
        symmetric_or_unknown = [a for a in settings.jwt_algorithms if a not in KEY_FOR_ALGORITHM]
        if symmetric_or_unknown or not settings.jwt_algorithms:
            raise ValueError(
                f"CATALOG_JWT_ALGORITHMS may only name asymmetric algorithms "
                f"({', '.join(KEY_FOR_ALGORITHM)}); not {symmetric_or_unknown or 'nothing'}"
            )
        unknown_roles = {v for v in settings.jwt_role_map.values() if v not in ROLES}
        if unknown_roles:
            raise ValueError(
                f"CATALOG_JWT_ROLE_MAP maps to {sorted(unknown_roles)}; roles are {ROLES}"
            )
        self._settings = settings
        self._url: str = settings.jwt_jwks_url
        self._algorithms = frozenset(settings.jwt_algorithms)
        self._role_map = {role: role for role in ROLES} | dict(settings.jwt_role_map)
        self._own_http = http is None
        self._http = http if http is not None else httpx.AsyncClient()
        self._clock = clock
        self._lock = asyncio.Lock()
        self._keys: KeySet | None = None
        self._fetches_done = 0  # attempts finished, successful or not
        self._retry_at = -math.inf  # no fetch before this, after a failed one
        # The same rule as a circuit breaker, so the identity provider's state shows with the
        # other dependencies (`catalog_circuit_breaker_state{dependency="jwks"}`, /healthz):
        # one failed fetch opens it, one trial after the pause closes it again.
        self._breaker = CircuitBreaker(
            "jwks",
            window=1,
            minimum_calls=1,
            failure_rate=1.0,
            slow_call_s=FETCH_TIMEOUT_S * 2,
            open_s=RETRY_AFTER_FAILED_FETCH_S,
            half_open_calls=1,
            clock=clock,
        )
        self._kid_refetch_at = -math.inf  # no unknown-kid refetch before this

    @property
    def breaker(self) -> CircuitBreaker:
        """The `jwks` breaker, for /healthz."""
        return self._breaker

    async def aclose(self) -> None:
        if self._own_http:
            await self._http.aclose()

    async def verify(self, token: str) -> Principal:
        alg, kid = self._read_header(token)
        key = await self._key_for(kid)
        if not key.fits(alg):
            raise InvalidCredentials(
                ALGORITHM_NOT_ALLOWED, f"the token's algorithm {alg} does not fit its key"
            )
        claims = self._decode(token, key, alg)
        return Principal(
            subject=self._subject(claims),
            role=self._role(claims),
            team=self._team(claims),
            kind="jwt",
        )

    # --- the token ---------------------------------------------------------------------------

    def _read_header(self, token: str) -> tuple[str, str | None]:
        if len(token) > MAX_TOKEN_CHARS:
            raise InvalidCredentials(MALFORMED, "the token is too long")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidCredentials(MALFORMED, "the token is not a well-formed JWT") from None
        alg, kid = header.get("alg"), header.get("kid")
        if not isinstance(alg, str) or alg not in self._algorithms:
            allowed = ", ".join(sorted(self._algorithms))
            raise InvalidCredentials(
                ALGORITHM_NOT_ALLOWED, f"the token's algorithm is not one of {allowed}"
            )
        if kid is not None and not isinstance(kid, str):
            raise InvalidCredentials(MALFORMED, "the token's kid is not a string")
        return alg, kid

    def _decode(self, token: str, key: SigningKey, alg: str) -> dict[str, Any]:
        settings = self._settings
        try:
            return jwt.decode(
                token,
                key.key,
                algorithms=[alg],
                audience=settings.jwt_audience,
                issuer=settings.jwt_issuer,
                leeway=settings.jwt_leeway_s,
                options={
                    "require": ["exp", "sub"],
                    "verify_aud": settings.jwt_audience is not None,
                    "verify_iss": settings.jwt_issuer is not None,
                },
            )
        except jwt.ExpiredSignatureError:
            raise InvalidCredentials(EXPIRED, "the token has expired") from None
        except jwt.ImmatureSignatureError:
            raise InvalidCredentials(NOT_YET_VALID, "the token is not valid yet") from None
        except jwt.InvalidIssuerError:
            raise InvalidCredentials(WRONG_ISSUER, "the token is from another issuer") from None
        except jwt.InvalidAudienceError:
            raise InvalidCredentials(WRONG_AUDIENCE, "the token is for another audience") from None
        except jwt.InvalidSignatureError:
            raise InvalidCredentials(BAD_SIGNATURE, "the token's signature is not valid") from None
        except jwt.MissingRequiredClaimError as exc:
            # exc.claim is the claim's name from our own `require` list, not token content.
            raise InvalidCredentials(MALFORMED, f"the token has no {exc.claim} claim") from None
        except jwt.PyJWTError:
            raise InvalidCredentials(MALFORMED, "the token's claims are not valid") from None

    def _subject(self, claims: Mapping[str, Any]) -> str:
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject.strip() or len(subject) > NAME_LENGTH:
            raise InvalidCredentials(
                MALFORMED, f"the token's sub must be a string of 1 to {NAME_LENGTH} characters"
            )
        return subject

    def _role(self, claims: Mapping[str, Any]) -> str:
        claim = self._settings.jwt_role_claim
        value = claim_at(claims, claim)
        names = [value] if isinstance(value, str) else value if isinstance(value, list) else []
        mapped = {self._role_map.get(name) for name in names if isinstance(name, str)}
        roles = [role for role in ROLES if role in mapped]
        if not roles:
            raise InvalidCredentials(NO_ROLE, f"the token's {claim} claim names no catalog role")
        return roles[-1]

    def _team(self, claims: Mapping[str, Any]) -> str | None:
        value = claim_at(claims, self._settings.jwt_team_claim)
        if isinstance(value, list) and len(value) == 1:
            value = value[0]
        if not isinstance(value, str) or not value:
            return None
        if len(value) > NAME_LENGTH:
            raise InvalidCredentials(
                MALFORMED, f"the token's team is longer than {NAME_LENGTH} characters"
            )
        return value

    # --- the keys ----------------------------------------------------------------------------

    async def _key_for(self, kid: str | None) -> SigningKey:
        fetches_before = self._fetches_done
        keys = await self._current_keys()
        key = keys.find(kid)
        if key is None and kid is not None and self._fetches_done == fetches_before:
            # No fetch finished while we were here, so the IdP may have rotated since the last.
            # Decided before any await, so concurrent misses agree on a single refetch.
            now = self._clock()
            if now >= self._kid_refetch_at:
                self._kid_refetch_at = now + UNKNOWN_KID_REFETCH_EVERY_S
                await self._refresh()
            elif self._lock.locked():
                await self._refresh()  # a fetch is under way: share its outcome
            key = (self._keys or keys).find(kid)
        if key is not None:
            return key
        if kid is None:
            raise InvalidCredentials(
                UNKNOWN_KEY, "the token names no kid and the issuer has more than one key"
            )
        raise InvalidCredentials(UNKNOWN_KEY, "the token's kid is not one of the issuer's keys")

    async def _current_keys(self) -> KeySet:
        ttl = self._settings.jwks_cache_ttl_s
        now = self._clock()
        fresh = self._keys is not None and now - self._keys.fetched_at < ttl
        if not fresh and now >= self._retry_at:
            await self._refresh()
        keys = self._keys
        if keys is None or self._clock() - keys.fetched_at >= 2 * ttl:
            raise InvalidCredentials(
                JWKS_UNAVAILABLE, "the identity provider's signing keys are unavailable"
            )
        return keys

    async def _refresh(self) -> None:
        """Fetch the JWKS, or share the outcome of a fetch that finished while we waited.

        A fetch whose caller is cancelled (client gone, request timeout) finishes nothing:
        the next waiter makes its own attempt instead of inheriting an empty outcome.
        """
        seen = self._fetches_done
        async with self._lock:
            if self._fetches_done != seen:
                return
            try:
                document = await self._breaker.call(self._download)
            except (JwksUnavailable, CircuitOpen) as exc:
                self._retry_at = self._clock() + RETRY_AFTER_FAILED_FETCH_S
                self._fetches_done += 1
                log.warning(
                    "jwks_fetch_failed",
                    url=self._url,
                    error=str(exc),
                    serving_cached_keys=self._keys is not None,
                )
                return
            self._keys = KeySet(usable_keys(document), self._clock())
            self._retry_at = -math.inf
            self._fetches_done += 1
            log.info("jwks_fetched", url=self._url, keys=len(self._keys.keys))

    async def _download(self) -> Any:
        body = bytearray()
        try:
            async with self._http.stream(
                "GET", self._url, timeout=FETCH_TIMEOUT_S, headers={"Accept": "application/json"}
            ) as response:
                if response.status_code != httpx.codes.OK:
                    raise JwksUnavailable(f"HTTP {response.status_code}")
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_JWKS_BYTES:
                        raise JwksUnavailable(f"larger than {MAX_JWKS_BYTES} bytes")
        except httpx.HTTPError as exc:
            raise JwksUnavailable(f"{type(exc).__name__}: {exc}") from None
        try:
            document = json.loads(body)
        except ValueError:
            raise JwksUnavailable("not JSON") from None
        if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
            raise JwksUnavailable("not a JWKS: no keys list")
        return document


def usable_keys(document: Mapping[str, Any]) -> tuple[SigningKey, ...]:
    """The entries of a JWKS that can verify a signature; others are logged and skipped."""
    found: list[SigningKey] = []
    for position, entry in enumerate(document["keys"]):
        kid = entry.get("kid") if isinstance(entry, dict) else None
        kid = kid if isinstance(kid, str) else None
        why = unusable_because(entry)
        key = None
        if why is None:
            try:
                key = jwt.PyJWK(entry).key
            except (jwt.PyJWTError, ValueError, TypeError, KeyError):
                why = "PyJWK cannot build it"
        if key is not None and entry["kty"] == "RSA" and key.key_size < MIN_RSA_BITS:
            why = f"RSA key shorter than {MIN_RSA_BITS} bits"
        if why is not None or key is None:
            log.warning("jwks_key_skipped", kid=kid, position=position, reason=why)
            continue
        if kid is not None and any(k.kid == kid for k in found):
            log.warning("jwks_key_skipped", kid=kid, position=position, reason="duplicate kid")
            continue
        declared = entry.get("alg")
        found.append(
            SigningKey(
                kid=kid,
                kty=entry["kty"],
                crv=entry.get("crv") if isinstance(entry.get("crv"), str) else None,
                declared_alg=declared if isinstance(declared, str) else None,
                key=key,
            )
        )
    return tuple(found)


def unusable_because(entry: Any) -> str | None:
    if not isinstance(entry, dict) or not isinstance(entry.get("kty"), str):
        return "not a JWK"
    if entry["kty"] == "oct":
        return "symmetric key"
    if entry.get("use", "sig") != "sig":
        return "not a signing key"
    if any(member in entry for member in _PRIVATE_MEMBERS):
        return "carries private key material"
    declared = entry.get("alg")
    if declared is not None and declared not in KEY_FOR_ALGORITHM:
        return "not an asymmetric signing algorithm"
    return None


def claim_at(claims: Mapping[str, Any], path: str) -> Any:
    """The claim named `path`, else the value at the dotted path `a.b.c`; None if absent."""
    if path in claims:
        return claims[path]
    node: Any = claims
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node
