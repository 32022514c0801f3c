"""Authentication and roles through the HTTP surface: enforced on every route, audited."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute
from httpx import AsyncClient

from catalog.app import create_app
from catalog.core.routes import flat_routes
from catalog.server.auth_middleware import PUBLIC_PATHS
from catalog.server.ui_session import is_public_ui_path, is_ui_path
from catalog.settings import Settings
from tests.conftest import base_settings
from tests.support.api import create_element, create_product, error_of, ok
from tests.support.clock import ManualClock
from tests.support.db import query
from tests.support.process import run_catalog
from tests.support.search import caught_up

Opener = Callable[..., Awaitable[AsyncClient]]
TOKENS = {
    "viewer": ("viewer-secret-1", "vera", "viewer", "finance"),
    "viewer2": ("viewer-secret-2", "victor", "viewer", "risk"),
    "editor": ("editor-secret-3", "eddie", "editor", "finance"),
    "steward": ("steward-secret-4", "stella", "steward", None),
    "admin": ("admin-secret-5", "ada", "admin", None),
}


def bearer(who: str) -> dict[str, str]:
    return {"authorization": f"Bearer {TOKENS[who][0]}"}


def write_tokens(path: Path, entries: dict[str, tuple[str, str, str, str | None]]) -> Path:
    lines = ["# sha256 subject role [team]", ""]
    for token, subject, role, team in entries.values():
        digest = hashlib.sha256(token.encode()).hexdigest()
        lines.append(f"{digest} {subject} {role}" + (f" {team}" if team else ""))
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def tokens_file(tmp_path: Path) -> Path:
    return write_tokens(tmp_path / "tokens", TOKENS)


@pytest.fixture
def auth_settings(database_url: str, tokens_file: Path) -> Callable[..., Settings]:
    return lambda **kw: base_settings(
        database_url, enable_auth=True, auth_tokens_file=tokens_file, **kw
    )


@pytest.fixture
async def auth_client(auth_settings: Callable[..., Settings], open_client: Opener) -> AsyncClient:
    return await open_client(create_app(auth_settings()))


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x", path)


async def test_every_route_but_the_public_ones_needs_credentials(
    auth_client: AsyncClient, auth_settings: Callable[..., Settings]
) -> None:
    app = create_app(auth_settings())
    checked = checked_pages = 0
    for route in flat_routes(app):
        for method in sorted(getattr(route, "methods", None) or ()):
            path = concrete(route.path)  # type: ignore[attr-defined]
            answer = await auth_client.request(
                method, path, json={} if method in {"POST", "PATCH", "PUT"} else None
            )
            if route.path in PUBLIC_PATHS:  # type: ignore[attr-defined]
                assert answer.status_code != 401, (method, path)
                continue
            if is_ui_path(path):  # a page: the way to the sign-in form, unless it is public
                if is_public_ui_path(path):
                    assert answer.status_code not in (303, 401), (method, path)
                else:
                    assert answer.status_code == 303, (method, path, answer.status_code)
                    assert answer.headers["location"].startswith("/ui/sign-in?next=")
                    checked_pages += 1
                continue
            assert answer.status_code == 401, (method, path, answer.status_code)
            assert answer.headers["www-authenticate"] == 'Bearer realm="catalog"'
            assert answer.json()["error"]["code"] == 401
            checked += 1
    assert checked > 80
    assert checked_pages >= 3
    api_routes = [r for r in flat_routes(app) if isinstance(r, APIRoute)]
    assert {r.path for r in api_routes} - PUBLIC_PATHS, "the walk saw the domain routes"


async def test_public_paths_are_exactly_probes_metrics_and_docs() -> None:
    assert {
        "/",
        "/livez",
        "/readyz",
        "/healthz",
        "/metrics",
        "/docs",
        "/docs/oauth2-redirect",
        "/redoc",
        "/openapi.json",
    } == PUBLIC_PATHS


async def test_static_tokens_happy_and_unhappy(auth_client: AsyncClient) -> None:
    ok(await auth_client.get("/api/data-products", headers=bearer("viewer")))
    bad = await auth_client.get("/api/data-products", headers={"authorization": "Bearer nope"})
    error = error_of(bad, 401)
    assert 'error="invalid_token"' in bad.headers["www-authenticate"]
    assert "nope" not in bad.text
    assert "nope" not in bad.headers["www-authenticate"]
    assert error["details"] == "the bearer token is not valid"
    malformed = await auth_client.get("/api/data-products", headers={"authorization": "Basic x"})
    error_of(malformed, 401)
    assert 'error="invalid_request"' in malformed.headers["www-authenticate"]
    # the dev token is not accepted once a real credential source is configured
    error_of(
        await auth_client.get("/api/data-products", headers={"authorization": "Bearer test-token"}),
        401,
    )


async def test_tokens_file_reloads_without_restart(
    auth_settings: Callable[..., Settings], open_client: Opener, tokens_file: Path
) -> None:
    clock = ManualClock()
    auth_client = await open_client(create_app(auth_settings(), clock=clock))
    newcomer = {"new": ("fresh-secret-9", "nina", "viewer", None)}
    error_of(
        await auth_client.get("/api/info", headers={"authorization": "Bearer fresh-secret-9"}), 401
    )
    write_tokens(tokens_file, TOKENS | newcomer)
    os.utime(tokens_file, (os.path.getmtime(tokens_file) + 5,) * 2)
    clock.advance(1.1)  # the file is looked at no more than once a second
    ok(await auth_client.get("/api/info", headers={"authorization": "Bearer fresh-secret-9"}))


async def test_static_token_comparison_is_constant_time(
    auth_client: AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def counting(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", counting)  # the module static_tokens calls
    await auth_client.get("/api/info", headers=bearer("viewer"))
    # every entry is compared, even after the match (no early exit)
    assert len(calls) >= len(TOKENS)


async def test_dev_token_only_in_development_without_credential_sources(
    database_url: str, open_client: Opener
) -> None:
    dev = await open_client(create_app(base_settings(database_url, enable_auth=True)))
    answer = ok(await dev.get("/api/data-products", headers={"authorization": "Bearer test-token"}))
    assert answer["total"] == 0
    with pytest.raises(Exception, match="no credential source"):
        create_app(
            Settings(environment="production", database_url="postgresql://x@y/z", enable_auth=True)
        )


async def test_roles_matrix(auth_client: AsyncClient) -> None:
    product = await create_product(auth_client, headers=bearer("editor"))
    element = await create_element(auth_client, headers=bearer("editor"))
    request = ok(
        await auth_client.post(
            "/api/access-requests",
            json={"product_id": product["id"], "reason": "analysis"},
            headers=bearer("viewer"),
        ),
        201,
    )
    cases = [
        ("GET", "/api/data-products", None, "viewer"),
        (
            "POST",
            "/api/data-products",
            {"name": "P2", "team": "finance", "category": "c", "owner": "o"},
            "editor",
        ),
        ("POST", f"/api/data-elements/{element['id']}/publish", None, "steward"),
        ("POST", f"/api/access-requests/{request['id']}/approve", {}, "steward"),
        (
            "POST",
            "/api/regulatory-schemas",
            {"regulatory_type": "GDPR", "version": "1.0.0", "spec_json": {}},
            "steward",
        ),
        ("GET", "/api/audit/events", None, "steward"),
        ("GET", "/api/admin/api-keys", None, "admin"),
    ]
    order = ["viewer", "editor", "steward", "admin"]
    for method, path, body, least in cases:
        for who in order:
            answer = await auth_client.request(method, path, json=body, headers=bearer(who))
            if order.index(who) < order.index(least):
                error_of(answer, 403)
                assert 'error="insufficient_scope"' in answer.headers["www-authenticate"]
            else:
                assert answer.status_code < 400, (method, path, who, answer.text)
                break  # state changed (e.g. approved): later roles are not re-tried


async def test_requester_sees_and_cancels_only_their_own(auth_client: AsyncClient) -> None:
    product = await create_product(auth_client, headers=bearer("editor"))
    mine = ok(
        await auth_client.post(
            "/api/access-requests",
            json={"product_id": product["id"], "reason": "mine"},
            headers=bearer("viewer"),
        ),
        201,
    )
    assert mine["requester"] == "vera"
    error_of(
        await auth_client.post(
            f"/api/access-requests/{mine['id']}/cancel", json={}, headers=bearer("viewer2")
        ),
        403,
    )
    error_of(
        await auth_client.post(
            f"/api/access-requests/{mine['id']}/approve", json={}, headers=bearer("editor")
        ),
        403,
    )
    cancelled = ok(
        await auth_client.post(
            f"/api/access-requests/{mine['id']}/cancel", json={}, headers=bearer("viewer")
        )
    )
    assert cancelled["status"] == "cancelled"


async def test_upstream_access_request_never_impersonates(auth_client: AsyncClient) -> None:
    """With authentication the principal is the requester: the upstream body's `requester_id`
    may repeat it, never name someone else."""
    product = await create_product(auth_client, headers=bearer("editor"))
    upstream = "/api/discover/access-request"
    body = {
        "product_id": product["id"],
        "requester_id": "victor",
        "requester_team": "finance",
        "reason": "mine",
        "comments": "thanks",
    }
    error = error_of(await auth_client.post(upstream, json=body, headers=bearer("viewer")), 403)
    assert "victor" in error["details"]
    assert "vera" in error["details"]
    mine = ok(
        await auth_client.post(
            upstream, json=body | {"requester_id": "vera"}, headers=bearer("viewer")
        ),
        201,
    )
    assert (mine["requester"], mine["comments"]) == ("vera", "thanks")
    # Without `requester_id` the principal asks as well (and so is a duplicate now).
    no_name = {k: v for k, v in body.items() if k != "requester_id"}
    error_of(await auth_client.post(upstream, json=no_name, headers=bearer("viewer")), 409)
    listed = ok(await auth_client.get("/api/access-requests", headers=bearer("steward")))
    assert [r["requester"] for r in listed["items"]] == ["vera"]


async def test_restricted_products_are_visible_to_their_team_and_stewards(
    auth_client: AsyncClient,
) -> None:
    secret = await create_product(
        auth_client,
        name="Risk Limits",
        team="risk",
        visibility="restricted",
        headers=bearer("editor"),
    )
    await create_product(auth_client, name="Risk Digest", team="risk", headers=bearer("editor"))
    url = f"/api/data-products/{secret['id']}"
    error_of(await auth_client.get(url, headers=bearer("viewer")), 404)  # finance team
    ok(await auth_client.get(url, headers=bearer("viewer2")))  # risk team
    ok(await auth_client.get(url, headers=bearer("steward")))
    names = {
        p["name"]
        for p in ok(await auth_client.get("/api/data-products", headers=bearer("viewer")))["items"]
    }
    assert names == {"Risk Digest"}
    await caught_up(auth_client)
    found = ok(
        await auth_client.get(
            "/api/discover/search", params={"q": "risk"}, headers=bearer("viewer")
        )
    )
    assert [r["name"] for r in found["results"]] == ["Risk Digest"]
    assert found["total_count"] == 1  # totals and facets count only what the caller may see
    assert found["facets"]["team"] == [{"value": "risk", "count": 1}]
    found = ok(
        await auth_client.get(
            "/api/discover/search", params={"q": "risk"}, headers=bearer("viewer2")
        )
    )
    assert found["total_count"] == 2
    error_of(await auth_client.get(f"{url}/versions", headers=bearer("viewer")), 404)

    async def suggested(who: str) -> set[str]:
        answer = await auth_client.get(
            "/api/discover/suggest", params={"q": "risk"}, headers=bearer(who)
        )
        return {s["text"] for s in ok(answer)["suggestions"] if s["kind"] == "product"}

    # the steward's answer is cached first: a viewer must not be served it
    assert await suggested("steward") == {"Risk Limits", "Risk Digest"}
    assert await suggested("viewer") == {"Risk Digest"}
    assert await suggested("viewer2") == {"Risk Limits", "Risk Digest"}
    error_of(
        await auth_client.post(
            "/api/access-requests",
            json={"product_id": secret["id"], "reason": "x"},
            headers=bearer("viewer"),
        ),
        404,
    )


async def test_a_restricted_products_schema_is_hidden_from_other_teams(
    auth_client: AsyncClient,
) -> None:
    secret = await create_product(
        auth_client, team="risk", visibility="restricted", headers=bearer("editor")
    )
    url = f"/api/data-products/{secret['id']}/schema"
    body = {"version": "1.0.0", "columns": [{"name": "limit_id", "physical_type": "bigint"}]}
    error_of(await auth_client.put(url, json=body, headers=bearer("viewer")), 403)  # role
    # The finance editor cannot see it, so cannot give it a schema either; a steward can.
    error_of(await auth_client.put(url, json=body, headers=bearer("editor")), 404)
    ok(await auth_client.put(url, json=body, headers=bearer("steward")))
    error_of(await auth_client.get(url, headers=bearer("viewer")), 404)  # finance team
    error_of(await auth_client.get(url, params={"version": "1.0.0"}, headers=bearer("viewer")), 404)
    seen = ok(await auth_client.get(url, headers=bearer("viewer2")))  # risk team
    assert [c["name"] for c in seen["columns"]] == ["limit_id"]


async def test_brute_force_guard_locks_out_even_correct_tokens(
    auth_settings: Callable[..., Settings], open_client: Opener
) -> None:
    clock = ManualClock()
    client = await open_client(
        create_app(auth_settings(auth_failures_burst=3, auth_failures_per_minute=60.0), clock=clock)
    )
    for i in range(3):
        error_of(await client.get("/api/info", headers={"authorization": f"Bearer guess-{i}"}), 401)
    locked = await client.get("/api/info", headers=bearer("admin"))
    error = error_of(locked, 429)
    assert locked.headers["retry-after"] == "1"
    assert "failed sign-in" in error["details"]
    clock.advance(1.1)  # one attempt per second comes back
    ok(await client.get("/api/info", headers=bearer("admin")))


async def test_principal_bucket(
    auth_settings: Callable[..., Settings], open_client: Opener
) -> None:
    client = await open_client(
        create_app(auth_settings(rate_limit_per_principal_rps=0.01, rate_limit_principal_burst=2))
    )
    codes = [
        (await client.get("/api/info", headers=bearer("viewer"))).status_code for _ in range(3)
    ]
    assert codes == [200, 200, 429]
    ok(await client.get("/api/info", headers=bearer("editor")))  # another principal's bucket


async def test_failures_and_denials_are_audited_and_counted(
    auth_client: AsyncClient, database_url: str
) -> None:
    from tests.support.metrics import scrape, value

    before = await scrape(auth_client)
    await auth_client.get(
        "/api/info", headers={"authorization": "Bearer wrong", "x-request-id": "audit-me-1"}
    )
    await auth_client.get(
        "/api/admin/api-keys", headers=bearer("viewer") | {"x-request-id": "audit-me-2"}
    )
    after = await scrape(auth_client)
    assert (
        value(after, "catalog_auth_failures_total", reason="unknown_token")
        - value(before, "catalog_auth_failures_total", reason="unknown_token")
        == 1
    )
    assert (
        value(after, "catalog_auth_failures_total", reason="insufficient_scope")
        - value(before, "catalog_auth_failures_total", reason="insufficient_scope")
        == 1
    )
    rows = await query(
        database_url,
        "SELECT action, actor, request_id, details FROM audit_events"
        " WHERE request_id IN ('audit-me-1', 'audit-me-2') ORDER BY request_id",
    )
    assert [(r.action, r.actor) for r in rows] == [
        ("auth_failure", "unauthenticated"),
        ("role_denied", "vera"),
    ]
    details = rows[0].details if isinstance(rows[0].details, dict) else json.loads(rows[0].details)
    assert details["reason"] == "unknown_token"


async def test_writes_record_the_principal(auth_client: AsyncClient, database_url: str) -> None:
    product = await create_product(auth_client, headers=bearer("editor"))
    rows = await query(
        database_url,
        "SELECT actor, actor_role FROM audit_events WHERE resource_id = :id",
        id=product["id"],
    )
    assert [(r.actor, r.actor_role) for r in rows] == [("eddie", "editor")]
    assert product["created_by"] == "eddie"


async def test_secrets_never_reach_the_logs(
    auth_client: AsyncClient, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    await auth_client.get("/api/info", headers=bearer("admin"))
    await auth_client.get("/api/info", headers={"authorization": "Bearer leaked-guess-777"})
    await auth_client.get("/nope", headers={"authorization": "Bearer leaked-guess-888"})
    out = capsys.readouterr().out
    assert out.strip()
    for secret in ("admin-secret-5", "leaked-guess-777", "leaked-guess-888"):
        assert secret not in out


# --- production safety -------------------------------------------------------------------


def test_production_refusals(tmp_path: Path) -> None:
    good = write_tokens(tmp_path / "good", {"a": ("strong-secret", "ops", "admin", None)})
    dev = write_tokens(tmp_path / "dev", {"a": ("test-token", "test-user", "admin", None)})
    base: dict[str, Any] = {"environment": "production", "database_url": "postgresql://u@h/db"}
    assert Settings(**base, enable_auth=True, auth_tokens_file=good).unsafe_reasons() == []
    assert "ENABLE_AUTH=false" in Settings(**base).unsafe_reasons()[0]
    assert "no credential source" in Settings(**base, enable_auth=True).unsafe_reasons()[0]
    assert (
        "test-token" in Settings(**base, enable_auth=True, auth_tokens_file=dev).unsafe_reasons()[0]
    )
    jwt_only = Settings(**base, enable_auth=True, jwt_jwks_url="https://idp/jwks")
    assert "JWT_ISSUER" in jwt_only.unsafe_reasons()[0]


def test_serve_refuses_production_without_auth(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in {"ENABLE_AUTH", "AUTH_TOKENS_FILE"}}
    env |= {"ENVIRONMENT": "production", "CATALOG_DATABASE_URL": "postgresql://u@127.0.0.1/x"}
    result = run_catalog("serve", env=env, inherit=False)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "refusing to start: ENABLE_AUTH=false: production requires authentication"
    )


async def test_auth_off_runs_everyone_as_the_anonymous_role(
    database_url: str, open_client: Opener
) -> None:
    client = await open_client(create_app(base_settings(database_url, anonymous_role="viewer")))
    ok(await client.get("/api/data-products"))
    error_of(
        await client.post(
            "/api/data-products", json={"name": "x", "team": "t", "category": "c", "owner": "o"}
        ),
        403,
    )


# --- JWTs and API keys end to end --------------------------------------------------------


async def test_jwt_end_to_end(auth_settings: Callable[..., Settings], open_client: Opener) -> None:
    import time as clock

    import jwt as pyjwt
    from cryptography.hazmat.primitives.asymmetric import rsa
    from jwt.algorithms import RSAAlgorithm

    from tests.support.jwks_server import JwksServer

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = dict(RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)) | {"kid": "k1", "use": "sig"}
    server = JwksServer().start()
    server.serve(jwk)
    try:
        client = await open_client(
            create_app(
                auth_settings(
                    jwt_jwks_url=server.url, jwt_issuer="https://idp.test/", jwt_audience="catalog"
                )
            )
        )

        def token(**claims: Any) -> dict[str, str]:
            now = int(clock.time())
            body = {
                "sub": "jess",
                "iss": "https://idp.test/",
                "aud": "catalog",
                "iat": now,
                "exp": now + 300,
                "roles": ["steward"],
                "team": "risk",
            } | claims
            signed = pyjwt.encode(body, key, algorithm="RS256", headers={"kid": "k1"})
            return {"authorization": f"Bearer {signed}"}

        product = await create_product(client, headers=token())
        assert product["created_by"] == "jess"
        ok(await client.get("/api/audit/events", headers=token()))  # a steward's read
        error_of(await client.get("/api/admin/api-keys", headers=token()), 403)
        expired = await client.get("/api/info", headers=token(exp=int(clock.time()) - 3600))
        error_of(expired, 401)
        assert 'error="invalid_token"' in expired.headers["www-authenticate"]
        error_of(await client.get("/api/info", headers=token(aud="someone-else")), 401)
    finally:
        server.stop()


async def test_identity_provider_outage_is_503_not_401(
    auth_settings: Callable[..., Settings], open_client: Opener
) -> None:
    from tests.support.servers import free_port

    client = await open_client(
        create_app(
            auth_settings(
                jwt_jwks_url=f"http://127.0.0.1:{free_port()}/jwks",
                jwt_issuer="i",
                jwt_audience="a",
            )
        )
    )
    import jwt as pyjwt
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    signed = pyjwt.encode({"sub": "x"}, key, algorithm="RS256", headers={"kid": "k"})
    answer = await client.get("/api/info", headers={"authorization": f"Bearer {signed}"})
    error = error_of(answer, 503)
    assert answer.headers["retry-after"] == str(error["retry_after"])


async def test_api_keys_end_to_end(auth_client: AsyncClient) -> None:
    created = ok(
        await auth_client.post(
            "/api/admin/api-keys",
            json={"name": "dashboard", "role": "editor", "team": "risk"},
            headers=bearer("admin"),
        ),
        201,
    )
    key = {"authorization": f"Bearer {created['key']}"}
    product = await create_product(auth_client, headers=key)
    assert product["created_by"] == "api-key:dashboard"
    listed = ok(await auth_client.get("/api/admin/api-keys", headers=bearer("admin")))
    assert created["key"] not in json.dumps(listed)
    assert (
        await auth_client.delete(f"/api/admin/api-keys/{created['id']}", headers=bearer("admin"))
    ).status_code == 204
    revoked = await auth_client.get("/api/info", headers=key)
    error_of(revoked, 401)
    assert "revoked" in revoked.json()["error"]["details"]
