"""Every page of the web UI, walked as each role, like the API's credentials walk
(tests/test_auth.py): no page fails, role-guarded pages refuse exactly the roles the API
refuses, and a restricted product of another team never shows, by name or by page."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import FastAPI
from httpx import AsyncClient

from catalog.app import create_app
from catalog.core.routes import flat_routes
from tests.conftest import base_settings
from tests.support.api import create_element, create_product, ok, unique
from tests.support.search import caught_up
from tests.test_auth import TOKENS, bearer, write_tokens

Opener = Callable[[FastAPI], Awaitable[AsyncClient]]
SECRET = "Secret risk model"
# The least role each guarded page needs, as the API route it shows (server/roles.py).
NEEDS_STEWARD = {"/ui/access/inbox", "/ui/audit"}
ROLES = {"viewer": 0, "editor": 1, "steward": 2, "admin": 3}


async def test_every_page_as_every_role(
    database_url: str, tmp_path: Path, open_client: Opener
) -> None:
    tokens = write_tokens(tmp_path / "tokens", TOKENS)
    app = create_app(base_settings(database_url, enable_auth=True, auth_tokens_file=tokens))
    client, admin = await open_client(app), bearer("admin")
    public = await create_product(client, admin, name=unique("Open ledger"), team="finance")
    secret = await create_product(client, admin, name=SECRET, team="risk", visibility="restricted")
    element = await create_element(client, admin)
    tag = ok(await client.post("/api/tags", json={"name": unique("walk")}, headers=admin), 201)
    for product in (public, secret):
        ok(
            await client.post(
                f"/api/data-products/{product['id']}/elements",
                json={"data_element_id": element["id"]},
                headers=admin,
            ),
            201,
        )
        ok(
            await client.post(
                f"/api/data-products/{product['id']}/tags",
                json={"tag_id": tag["id"]},
                headers=admin,
            ),
            201,
        )
    ok(
        await client.post(
            f"/api/data-products/{public['id']}/lineage",
            json={"upstream_id": secret["id"]},
            headers=admin,
        ),
        201,
    )
    ok(
        await client.post(
            "/api/access-requests",
            json={"product_id": secret["id"], "reason": f"{SECRET} for the walk"},
            headers=bearer("viewer2"),  # victor, of the risk team
        ),
        201,
    )
    await caught_up(client)
    ids = {
        "product_id": secret["id"],
        "element_id": element["id"],
        "concept_id": element["data_element_concept_id"],
        "domain_id": "00000000-0000-0000-0000-000000000000",
        "schema_id": "00000000-0000-0000-0000-000000000000",
    }
    pages = sorted(
        {
            route.path  # type: ignore[attr-defined]
            for route in flat_routes(app)
            if route.path.startswith("/ui")  # type: ignore[attr-defined]
            and "GET" in (getattr(route, "methods", None) or ())
            and "{name:path}" not in route.path  # type: ignore[attr-defined]
        }
    )
    assert len(pages) >= 15, pages
    seen = 0
    for who in ("viewer", "viewer2", "editor", "steward", "admin"):
        role = TOKENS[who][2]
        for template in pages:
            path = re.sub(r"\{(\w+)\}", lambda m: ids[m.group(1)], template)
            params = {"q": "secret"} if template.endswith(("/search", "/suggest")) else None
            answer = await client.get(path, params=params, headers=bearer(who))
            assert answer.status_code < 500, (who, path, answer.text[:300])
            if template in NEEDS_STEWARD and ROLES[role] < ROLES["steward"]:
                assert answer.status_code == 403, (who, path, answer.status_code)
                assert "this needs the steward role" in answer.text
                continue
            if template == "/ui/products/{product_id}" or template.startswith(
                "/ui/products/{product_id}/"
            ):
                # The restricted product's own pages: its team and stewards, else 404 as the API.
                allowed = who == "viewer2" or ROLES[role] >= ROLES["steward"]
                assert answer.status_code == (200 if allowed else 404), (who, path)
            elif "{" not in template and template != "/ui":
                assert answer.status_code == 200, (who, path, answer.status_code)
            if who in ("viewer", "editor"):  # of the finance team: never its name
                assert SECRET not in answer.text, (who, path)
            seen += 1
    assert seen > 60
    # The walk can fail: the name is shown where it may be (its team's search and product page).
    found = await client.get("/ui/search", params={"q": "secret"}, headers=bearer("viewer2"))
    assert SECRET in found.text
    page = await client.get(f"/ui/products/{public['id']}", headers=bearer("viewer"))
    assert page.status_code == 200
    assert public["name"] in page.text
