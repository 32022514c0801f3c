"""The JWT verifier against real keys and a real JWKS server: signatures, claims, key rotation.

Keys are generated with `cryptography`, tokens signed with PyJWT (or by hand, for the tokens
PyJWT refuses to make), and the JWKS is served over HTTP by `tests.support.jwks_server`, so
fetching, caching and refetching are what production does. Cache timing runs on a fake
monotonic clock handed to the verifier; token times (`exp`, `nbf`) are real wall-clock times.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

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
from catalog.identity.jwt import JwtVerifier
from catalog.identity.principal import Principal
from catalog.settings import Settings
from tests.support.jwks_server import JwksServer
from tests.support.wait import until

ISSUER = "https://idp.example.test/realms/catalog"
AUDIENCE = "catalog-api"


# --- keys and tokens -----------------------------------------------------------------------


@dataclass(frozen=True)
class Key:
    kid: str
    private: Any
    alg: str

    def jwk(self, **extra: Any) -> dict[str, Any]:
        algorithm = RSAAlgorithm if isinstance(self.private, rsa.RSAPrivateKey) else ECAlgorithm
        entry = dict(algorithm.to_jwk(self.private.public_key(), as_dict=True))
        return entry | {"kid": self.kid, "use": "sig"} | extra

    def sign(self, claims: dict[str, Any], alg: str | None = None, **header: Any) -> str:
        headers = {"kid": self.kid} | header
        if headers["kid"] is None:
            del headers["kid"]
        return jwt.encode(claims, self.private, algorithm=alg or self.alg, headers=headers)

    def public_pem(self) -> bytes:
        return bytes(
            self.private.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )


def rsa_key(kid: str) -> Key:
    return Key(kid, rsa.generate_private_key(public_exponent=65537, key_size=2048), "RS256")


def ec_key(kid: str) -> Key:
    return Key(kid, ec.generate_private_key(ec.SECP256R1()), "ES256")


@pytest.fixture(scope="module")
def rsa1() -> Key:
    return rsa_key("rsa-1")


@pytest.fixture(scope="module")
def rsa2() -> Key:
    return rsa_key("rsa-2")


@pytest.fixture(scope="module")
def ec1() -> Key:
    return ec_key("ec-1")


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    values: dict[str, Any] = {
        "sub": "alice",
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + 300,
        "roles": ["editor"],
        "team": "finance",
    }
    values.update(overrides)
    return {name: value for name, value in values.items() if value is not None}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_json(value: dict[str, Any]) -> str:
    return b64url(json.dumps(value).encode())


# --- the verifier under test ---------------------------------------------------------------


@dataclass
class FakeClock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Harness:
    server: JwksServer
    clock: FakeClock = field(default_factory=FakeClock)
    made: list[JwtVerifier] = field(default_factory=list)

    def verifier(self, **overrides: Any) -> JwtVerifier:
        values: dict[str, Any] = {
            "jwt_jwks_url": self.server.url,
            "jwt_issuer": ISSUER,
            "jwt_audience": AUDIENCE,
        }
        values.update(overrides)
        verifier = JwtVerifier(Settings(**values), clock=self.clock)
        self.made.append(verifier)
        return verifier


@pytest.fixture
async def idp(rsa1: Key, ec1: Key) -> Any:
    server = JwksServer().start()
    server.serve(rsa1.jwk(), ec1.jwk())
    harness = Harness(server)
    yield harness
    for verifier in harness.made:
        await verifier.aclose()
    server.stop()


async def rejected(verifier: JwtVerifier, token: str, reason: str) -> InvalidCredentials:
    with pytest.raises(InvalidCredentials) as caught:
        await verifier.verify(token)
    assert caught.value.reason == reason, caught.value.description
    # The description reaches the client and the logs: no part of the token may be in it.
    for part in token.split("."):
        if len(part) >= 8:
            assert part not in caught.value.description
    return caught.value


# --- accepted tokens -------------------------------------------------------------------------


async def test_rs256_token_becomes_a_principal(idp: Harness, rsa1: Key) -> None:
    principal = await idp.verifier().verify(rsa1.sign(claims()))
    assert principal == Principal(subject="alice", role="editor", team="finance", kind="jwt")


async def test_es256_token_becomes_a_principal(idp: Harness, ec1: Key) -> None:
    token = ec1.sign(claims(sub="bob", roles="steward", team=None))
    assert await idp.verifier().verify(token) == Principal("bob", "steward", None, kind="jwt")


async def test_rsa_key_without_declared_alg_verifies_other_rsa_algorithms(
    idp: Harness, rsa1: Key
) -> None:
    for alg in ("RS384", "PS256", "PS512"):
        principal = await idp.verifier().verify(rsa1.sign(claims(), alg=alg))
        assert principal.subject == "alice"


async def test_highest_of_several_roles_wins(idp: Harness, rsa1: Key) -> None:
    verifier = idp.verifier()
    token = rsa1.sign(claims(roles=["viewer", "offline_access", "steward", "editor"]))
    assert (await verifier.verify(token)).role == "steward"
    assert (await verifier.verify(rsa1.sign(claims(roles="admin")))).role == "admin"


async def test_role_map_translates_idp_role_names(idp: Harness, rsa1: Key) -> None:
    verifier = idp.verifier(
        jwt_role_map={"catalog-readers": "viewer", "data-stewards": "steward", "admin": "viewer"}
    )
    token = rsa1.sign(claims(roles=["catalog-readers", "data-stewards", "uma_authorization"]))
    assert (await verifier.verify(token)).role == "steward"
    assert (await verifier.verify(rsa1.sign(claims(roles=["catalog-readers"])))).role == "viewer"
    # An explicit entry overrides the identity mapping of a catalog role's own name.
    assert (await verifier.verify(rsa1.sign(claims(roles=["admin"])))).role == "viewer"
    # Names that are catalog roles and not in the map still map to themselves.
    assert (await verifier.verify(rsa1.sign(claims(roles=["editor"])))).role == "editor"


async def test_dotted_role_claim_reads_nested_objects(idp: Harness, rsa1: Key) -> None:
    verifier = idp.verifier(jwt_role_claim="realm_access.roles")
    nested = {"realm_access": {"roles": ["offline_access", "editor"]}, "roles": ["admin"]}
    assert (await verifier.verify(rsa1.sign(claims(**nested)))).role == "editor"
    await rejected(verifier, rsa1.sign(claims(realm_access={"roles": "x"})), NO_ROLE)
    await rejected(verifier, rsa1.sign(claims(realm_access=["editor"])), NO_ROLE)


async def test_namespaced_role_claim_with_dots_in_its_name(idp: Harness, rsa1: Key) -> None:
    name = "https://catalog.example.com/roles"
    verifier = idp.verifier(jwt_role_claim=name)
    token = rsa1.sign(claims(**{name: ["admin"]}, roles=None))
    assert (await verifier.verify(token)).role == "admin"


async def test_team_claim(idp: Harness, rsa1: Key) -> None:
    default = idp.verifier()
    assert (await default.verify(rsa1.sign(claims(team="risk")))).team == "risk"
    assert (await default.verify(rsa1.sign(claims(team=["risk"])))).team == "risk"
    assert (await default.verify(rsa1.sign(claims(team=["a", "b"])))).team is None
    assert (await default.verify(rsa1.sign(claims(team=None)))).team is None
    custom = idp.verifier(jwt_team_claim="org.team")
    token = rsa1.sign(claims(org={"team": "payments"}))
    assert (await custom.verify(token)).team == "payments"


async def test_issuer_and_audience_are_not_checked_when_unset(idp: Harness, rsa1: Key) -> None:
    verifier = idp.verifier(jwt_issuer=None, jwt_audience=None)
    token = rsa1.sign(claims(iss="https://elsewhere.test", aud="another-api"))
    assert (await verifier.verify(token)).subject == "alice"


async def test_audience_list_containing_ours_is_accepted(idp: Harness, rsa1: Key) -> None:
    token = rsa1.sign(claims(aud=["account", AUDIENCE]))
    assert (await idp.verifier().verify(token)).subject == "alice"


# --- time ------------------------------------------------------------------------------------


async def test_expired_beyond_leeway_is_rejected(idp: Harness, rsa1: Key) -> None:
    past = int(time.time()) - 120
    await rejected(idp.verifier(), rsa1.sign(claims(exp=past, iat=past - 60)), EXPIRED)


async def test_expired_within_leeway_is_accepted(idp: Harness, rsa1: Key) -> None:
    just_now = int(time.time()) - 10
    token = rsa1.sign(claims(exp=just_now, iat=just_now - 60))
    assert (await idp.verifier().verify(token)).subject == "alice"
    await rejected(idp.verifier(jwt_leeway_s=0), token, EXPIRED)


async def test_not_before_in_the_future_is_rejected(idp: Harness, rsa1: Key) -> None:
    later = int(time.time()) + 300
    await rejected(idp.verifier(), rsa1.sign(claims(nbf=later, exp=later + 300)), NOT_YET_VALID)
    soon = int(time.time()) + 10  # within the leeway: clock skew, not an early token
    assert (await idp.verifier().verify(rsa1.sign(claims(nbf=soon)))).subject == "alice"


# --- issuer, audience, claims ------------------------------------------------------------------


async def test_wrong_issuer_is_rejected(idp: Harness, rsa1: Key) -> None:
    await rejected(idp.verifier(), rsa1.sign(claims(iss="https://evil.test")), WRONG_ISSUER)
    await rejected(idp.verifier(), rsa1.sign(claims(iss=None)), MALFORMED)


async def test_wrong_audience_is_rejected(idp: Harness, rsa1: Key) -> None:
    await rejected(idp.verifier(), rsa1.sign(claims(aud="billing-api")), WRONG_AUDIENCE)
    await rejected(idp.verifier(), rsa1.sign(claims(aud=["a", "b"])), WRONG_AUDIENCE)


async def test_missing_sub_or_exp_is_malformed(idp: Harness, rsa1: Key) -> None:
    verifier = idp.verifier()
    error = await rejected(verifier, rsa1.sign(claims(sub=None)), MALFORMED)
    assert "sub" in error.description
    await rejected(verifier, rsa1.sign(claims(sub="")), MALFORMED)
    await rejected(verifier, rsa1.sign(claims(sub="x" * 201)), MALFORMED)
    await rejected(verifier, rsa1.sign(claims(exp=None)), MALFORMED)


async def test_no_usable_role_is_no_role(idp: Harness, rsa1: Key) -> None:
    verifier = idp.verifier()
    await rejected(verifier, rsa1.sign(claims(roles=["offline_access", "uma"])), NO_ROLE)
    await rejected(verifier, rsa1.sign(claims(roles=None)), NO_ROLE)
    await rejected(verifier, rsa1.sign(claims(roles=[])), NO_ROLE)
    await rejected(verifier, rsa1.sign(claims(roles={"admin": True})), NO_ROLE)
    await rejected(verifier, rsa1.sign(claims(roles="Admin")), NO_ROLE)  # names are exact


async def test_garbage_is_malformed(idp: Harness) -> None:
    verifier = idp.verifier()
    for token in ("not-a-jwt", "a.b.c", "", "eyJhbGciOiJSUzI1NiJ9.%%%.sig", "x" * 20000):
        await rejected(verifier, token, MALFORMED)
    assert idp.server.requests == 0  # rejected before any key was needed


# --- signatures and algorithms --------------------------------------------------------------


async def test_tampered_signature_is_rejected(idp: Harness, rsa1: Key, ec1: Key) -> None:
    verifier = idp.verifier()
    for key in (rsa1, ec1):
        header, payload, signature = key.sign(claims()).split(".")
        raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
        raw[len(raw) // 2] ^= 0x01
        await rejected(verifier, f"{header}.{payload}.{b64url(bytes(raw))}", BAD_SIGNATURE)


async def test_tampered_payload_is_rejected(idp: Harness, rsa1: Key) -> None:
    header, _, signature = rsa1.sign(claims(roles=["viewer"])).split(".")
    forged = b64url_json(claims(roles=["admin"]))
    await rejected(idp.verifier(), f"{header}.{forged}.{signature}", BAD_SIGNATURE)


async def test_alg_none_is_not_allowed(idp: Harness, rsa1: Key) -> None:
    verifier = idp.verifier()
    payload = b64url_json(claims(roles=["admin"]))
    for alg in ("none", "None", "NONE"):
        header = b64url_json({"alg": alg, "typ": "JWT", "kid": rsa1.kid})
        await rejected(verifier, f"{header}.{payload}.", ALGORITHM_NOT_ALLOWED)
    missing = b64url_json({"typ": "JWT", "kid": rsa1.kid})
    await rejected(verifier, f"{missing}.{payload}.", ALGORITHM_NOT_ALLOWED)


async def test_hs256_with_the_public_key_as_secret_is_not_allowed(idp: Harness, rsa1: Key) -> None:
    """Key confusion: the public key is public, so an HMAC keyed with it proves nothing."""
    header = b64url_json({"alg": "HS256", "typ": "JWT", "kid": rsa1.kid})
    payload = b64url_json(claims(roles=["admin"]))
    signing_input = f"{header}.{payload}".encode()
    mac = hmac.new(rsa1.public_pem(), signing_input, hashlib.sha256).digest()
    await rejected(idp.verifier(), f"{header}.{payload}.{b64url(mac)}", ALGORITHM_NOT_ALLOWED)


def test_symmetric_algorithms_cannot_be_configured(idp: Harness) -> None:
    for algorithms in (("RS256", "HS256"), ("none",), ()):
        with pytest.raises(ValueError, match="asymmetric"):
            idp.verifier(jwt_algorithms=algorithms)
    with pytest.raises(ValueError, match="ROLE_MAP"):
        idp.verifier(jwt_role_map={"ops": "superuser"})


async def test_algorithm_outside_the_allow_list_is_rejected(idp: Harness, rsa1: Key) -> None:
    verifier = idp.verifier(jwt_algorithms=("ES256",))
    await rejected(verifier, rsa1.sign(claims()), ALGORITHM_NOT_ALLOWED)


async def test_algorithm_must_fit_the_key(idp: Harness, rsa1: Key, ec1: Key) -> None:
    verifier = idp.verifier()
    # An RSA signature presented under the EC key's kid, and the other way round.
    await rejected(verifier, rsa1.sign(claims(), kid=ec1.kid), ALGORITHM_NOT_ALLOWED)
    await rejected(verifier, ec1.sign(claims(), kid=rsa1.kid), ALGORITHM_NOT_ALLOWED)
    # A JWK that declares its algorithm accepts that one only.
    idp.server.serve(rsa1.jwk(alg="RS256"))
    pinned = idp.verifier()
    assert (await pinned.verify(rsa1.sign(claims()))).subject == "alice"
    await rejected(pinned, rsa1.sign(claims(), alg="PS256"), ALGORITHM_NOT_ALLOWED)


async def test_es384_token_against_a_p256_key_is_rejected(idp: Harness, ec1: Key) -> None:
    p384 = Key(ec1.kid, ec.generate_private_key(ec.SECP384R1()), "ES384")
    await rejected(idp.verifier(), p384.sign(claims()), ALGORITHM_NOT_ALLOWED)


async def test_token_without_kid_needs_exactly_one_key(idp: Harness, rsa1: Key) -> None:
    token = rsa1.sign(claims(), kid=None)
    await rejected(idp.verifier(), token, UNKNOWN_KEY)  # the JWKS has two keys
    idp.server.serve(rsa1.jwk())
    assert (await idp.verifier().verify(token)).subject == "alice"


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")  # the weak key
async def test_unusable_jwks_entries_are_skipped(idp: Harness, rsa1: Key, ec1: Key) -> None:
    short = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 - on purpose
    weak = Key("weak", short, "RS256")
    private_jwk = dict(RSAAlgorithm.to_jwk(rsa1.private, as_dict=True)) | {"kid": "private"}
    idp.server.serve(
        {"kty": "oct", "kid": "hmac", "k": b64url(rsa1.public_pem())},
        {"kty": "RSA", "kid": "broken", "n": "!!", "e": "AQAB"},
        {"kty": "XYZ", "kid": "alien"},
        "not an object",  # type: ignore[arg-type]
        ec1.jwk(kid="enc", use="enc"),
        ec1.jwk(kid="claims-hs", alg="HS256"),
        private_jwk,
        weak.jwk(),
        rsa1.jwk(),
    )
    verifier = idp.verifier()
    assert (await verifier.verify(rsa1.sign(claims()))).subject == "alice"
    for kid in ("hmac", "broken", "alien", "enc", "claims-hs", "private"):
        await rejected(verifier, rsa1.sign(claims(), kid=kid), UNKNOWN_KEY)
    await rejected(verifier, weak.sign(claims()), UNKNOWN_KEY)
    hs = b64url_json({"alg": "HS256", "kid": "hmac"})
    payload = b64url_json(claims())
    mac = hmac.new(rsa1.public_pem(), f"{hs}.{payload}".encode(), hashlib.sha256).digest()
    await rejected(verifier, f"{hs}.{payload}.{b64url(mac)}", ALGORITHM_NOT_ALLOWED)


# --- the JWKS: caching, rotation, refetch limits, outages ----------------------------------


async def test_keys_are_fetched_once_and_shared(idp: Harness, rsa1: Key, ec1: Key) -> None:
    verifier = idp.verifier()
    tokens = [rsa1.sign(claims(sub=f"u{i}")) for i in range(10)] + [ec1.sign(claims())] * 10
    principals = await asyncio.gather(*(verifier.verify(token) for token in tokens))
    assert {p.subject for p in principals} == {"alice"} | {f"u{i}" for i in range(10)}
    assert idp.server.requests == 1


async def test_keys_are_refetched_after_the_ttl(idp: Harness, rsa1: Key, rsa2: Key) -> None:
    verifier = idp.verifier(jwks_cache_ttl_s=600)
    token = rsa1.sign(claims())
    await verifier.verify(token)
    idp.server.serve(rsa2.jwk())  # rsa-1 is withdrawn by the IdP
    idp.clock.advance(599)
    await verifier.verify(token)
    assert idp.server.requests == 1
    idp.clock.advance(2)
    await rejected(verifier, token, UNKNOWN_KEY)
    assert (await verifier.verify(rsa2.sign(claims()))).subject == "alice"
    assert idp.server.requests == 2


async def test_rotated_key_is_found_by_one_refetch(idp: Harness, rsa1: Key, rsa2: Key) -> None:
    verifier = idp.verifier()
    await verifier.verify(rsa1.sign(claims()))
    assert idp.server.requests == 1
    idp.server.serve(rsa1.jwk(), rsa2.jwk())  # the IdP rotates: rsa-2 is new
    rotated = [rsa2.sign(claims(sub=f"u{i}")) for i in range(20)]
    principals = await asyncio.gather(*(verifier.verify(token) for token in rotated))
    assert len({p.subject for p in principals}) == 20
    assert idp.server.requests == 2  # one refetch for all of them, not one per request
    for token in rotated:
        await verifier.verify(token)
    assert idp.server.requests == 2


async def test_kid_seen_before_its_key_is_published(idp: Harness, rsa1: Key, rsa2: Key) -> None:
    verifier = idp.verifier()
    early = rsa2.sign(claims())
    await rejected(verifier, early, UNKNOWN_KEY)  # initial fetch; no second one straight after
    assert idp.server.requests == 1
    idp.clock.advance(1)
    await rejected(verifier, early, UNKNOWN_KEY)  # refetch: still not published
    assert idp.server.requests == 2
    idp.server.serve(rsa1.jwk(), rsa2.jwk())
    idp.clock.advance(10)
    await rejected(verifier, early, UNKNOWN_KEY)  # within 30 s of the last refetch
    assert idp.server.requests == 2
    idp.clock.advance(21)
    assert (await verifier.verify(early)).subject == "alice"
    assert idp.server.requests == 3


async def test_made_up_kid_flood_refetches_at_most_every_30_s(idp: Harness, rsa1: Key) -> None:
    verifier = idp.verifier()
    await verifier.verify(rsa1.sign(claims()))

    async def flood(n: int) -> None:
        forged = [rsa1.sign(claims(), kid=str(uuid.uuid4())) for _ in range(n)]
        results = await asyncio.gather(
            *(verifier.verify(token) for token in forged), return_exceptions=True
        )
        assert all(isinstance(r, InvalidCredentials) for r in results)
        assert {r.reason for r in results if isinstance(r, InvalidCredentials)} == {UNKNOWN_KEY}

    await flood(50)
    assert idp.server.requests == 2
    for _ in range(29):
        idp.clock.advance(1)
        await flood(5)
    assert idp.server.requests == 2
    idp.clock.advance(1)
    await flood(50)
    assert idp.server.requests == 3
    assert (await verifier.verify(rsa1.sign(claims()))).subject == "alice"  # real tokens pass


async def test_jwks_server_down_is_jwks_unavailable(idp: Harness, rsa1: Key) -> None:
    token = rsa1.sign(claims())
    idp.server.stop()  # connection refused
    await rejected(idp.verifier(), token, JWKS_UNAVAILABLE)


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (500, None),
        (404, None),
        (200, b"<html>maintenance</html>"),
        (200, b'{"no": "keys"}'),
        (200, b"[1, 2]"),
        (200, b'{"keys": [' + b'"x",' * 400_000 + b'"x"]}'),
    ],
)
async def test_jwks_error_answers_are_jwks_unavailable(
    idp: Harness, rsa1: Key, status: int, body: bytes | None
) -> None:
    idp.server.status, idp.server.body = status, body
    await rejected(idp.verifier(), rsa1.sign(claims()), JWKS_UNAVAILABLE)


async def test_slow_jwks_server_times_out(idp: Harness, rsa1: Key) -> None:
    held: list[asyncio.StreamWriter] = []  # accepted, kept open, never answered

    async def hold(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    listener = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    try:
        verifier = idp.verifier(jwt_jwks_url=f"http://127.0.0.1:{port}/jwks")
        started = time.monotonic()
        await rejected(verifier, rsa1.sign(claims()), JWKS_UNAVAILABLE)
        assert 1.5 < time.monotonic() - started < 5
    finally:
        for writer in held:
            writer.close()
        listener.close()


async def test_cancelled_fetch_leaves_the_next_caller_its_own(idp: Harness, rsa1: Key) -> None:
    verifier = idp.verifier()
    token = rsa1.sign(claims())
    idp.server.delay_s = 0.3
    first = asyncio.create_task(verifier.verify(token))

    async def fetching() -> bool:  # first is fetching, holding the lock
        return idp.server.requests >= 1

    await until(fetching, "the first fetch reaching the server", 10, 0.01)
    second = asyncio.create_task(verifier.verify(token))
    for _ in range(3):  # second runs up to the lock: no I/O on its way there
        await asyncio.sleep(0)
    first.cancel()
    assert (await second).subject == "alice"
    assert first.cancelled()
    assert idp.server.requests == 2


async def test_failed_fetch_is_not_retried_for_5_s(idp: Harness, rsa1: Key) -> None:
    token = rsa1.sign(claims())
    idp.server.status = 503
    verifier = idp.verifier()
    await asyncio.gather(*(rejected(verifier, token, JWKS_UNAVAILABLE) for _ in range(20)))
    assert idp.server.requests == 1
    idp.clock.advance(4)
    await rejected(verifier, token, JWKS_UNAVAILABLE)
    assert idp.server.requests == 1
    idp.server.status = 200
    idp.clock.advance(1)
    assert (await verifier.verify(token)).subject == "alice"
    assert idp.server.requests == 2


async def test_cached_keys_outlive_a_short_outage(idp: Harness, rsa1: Key) -> None:
    verifier = idp.verifier(jwks_cache_ttl_s=600)
    token = rsa1.sign(claims())
    await verifier.verify(token)
    idp.server.status = 503
    idp.clock.advance(700)  # past the TTL, the IdP fails: the stale keys still serve
    assert (await verifier.verify(token)).subject == "alice"
    assert idp.server.requests == 2
    idp.clock.advance(499)
    assert (await verifier.verify(token)).subject == "alice"
    idp.clock.advance(2)  # two TTLs after the last good fetch: no more
    await rejected(verifier, token, JWKS_UNAVAILABLE)
    idp.server.status = 200
    idp.clock.advance(5)
    assert (await verifier.verify(token)).subject == "alice"


# --- the http client ---------------------------------------------------------------------------


async def test_aclose_closes_only_its_own_client(idp: Harness, rsa1: Key) -> None:
    async with httpx.AsyncClient() as shared:
        settings = Settings(jwt_jwks_url=idp.server.url)
        borrowed = JwtVerifier(settings, shared)
        assert (await borrowed.verify(rsa1.sign(claims()))).subject == "alice"
        await borrowed.aclose()
        assert not shared.is_closed
    owner = JwtVerifier(settings)
    await owner.verify(rsa1.sign(claims()))
    await owner.aclose()
    assert owner._http.is_closed


@pytest.fixture(autouse=True)
def _no_stray_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings read the environment: keep a developer's JWT_* variables out of the tests."""
    for name in ("JWT_JWKS_URL", "JWT_ISSUER", "JWT_AUDIENCE"):
        monkeypatch.delenv(name, raising=False)


async def test_an_identity_provider_outage_shows_as_an_open_jwks_breaker(
    idp: Harness, rsa1: Key
) -> None:
    token = rsa1.sign(claims())
    idp.server.status = 503
    verifier = idp.verifier()
    await rejected(verifier, token, JWKS_UNAVAILABLE)
    assert verifier.breaker.name == "jwks"
    assert verifier.breaker.snapshot()["state"] == "open"
    idp.clock.advance(5)
    assert verifier.breaker.snapshot()["state"] == "half_open"
    idp.server.status = 200
    assert (await verifier.verify(token)).subject == "alice"
    assert verifier.breaker.snapshot()["state"] == "closed"
