"""Routing seen from outside: fixed paths win over parameters, 405s list the right methods,
and `/` leads a newcomer to the API docs."""

from __future__ import annotations

import gc
import re
import weakref
from collections import defaultdict
from collections.abc import Awaitable, Callable

import pytest
from fastapi import APIRouter, FastAPI
from httpx import ASGITransport, AsyncClient, Response
from starlette.routing import Match

from catalog.app import create_app, freeze_startup_heap
from catalog.core.routes import flat_routes
from catalog.server import route_index
from tests.conftest import base_settings
from tests.support.api import create_product, error_of
from tests.support.lifespan import started

BULK_PATHS = ("/api/data-products/bulk", "/api/data-elements/bulk", "/catalog/data-elements/bulk")
WRONG_METHODS = ("GET", "PUT", "PATCH", "DELETE", "OPTIONS")


def assert_405(response: Response, allow: str) -> None:
    assert response.headers["allow"] == allow, (response.request.url, response.headers)
    error = error_of(response, 405)
    assert error["message"] == "Method Not Allowed"
    assert error["request_id"] == response.headers["x-request-id"]
    assert f"allowed: {allow}" in error["details"]


@pytest.mark.parametrize("path", BULK_PATHS)
async def test_a_bulk_path_answers_405_with_its_own_methods(
    sqlite_client: AsyncClient, path: str
) -> None:
    # Before: GET reached the `{id}` route (404 "... bulk not found"), and OPTIONS listed the
    # `{id}` route's methods too.
    for method in WRONG_METHODS:
        assert_405(await sqlite_client.request(method, path), "POST")
    head = await sqlite_client.head(path)
    assert (head.status_code, head.headers["allow"]) == (405, "POST")


async def test_the_parameter_route_still_answers_beside_the_fixed_one(
    sqlite_client: AsyncClient,
) -> None:
    product = await create_product(sqlite_client, name="Beside bulk")
    assert (await sqlite_client.get(f"/api/data-products/{product['id']}")).status_code == 200
    error_of(await sqlite_client.get("/api/data-products/bulkier"), 404)
    assert_405(
        await sqlite_client.post(f"/api/data-products/{product['id']}"), "DELETE, GET, PATCH"
    )
    created = await sqlite_client.post(
        "/api/data-products/bulk",
        json={"items": [{"name": "From bulk", "team": "t", "owner": "o", "category": "c"}]},
    )
    assert created.status_code < 300, created.text
    assert created.json()["results"][0]["status"] == "created"


def concrete(template: str) -> str:
    return re.sub(r"\{[^}]+\}", "x", template)


async def test_every_path_lists_exactly_its_own_methods(
    sqlite_url: str, open_client: Callable[[FastAPI], Awaitable[AsyncClient]]
) -> None:
    app = create_app(base_settings(sqlite_url))
    client = await open_client(app)
    declared: dict[str, set[str]] = defaultdict(set)
    for route in flat_routes(app):
        declared[route.path] |= set(getattr(route, "methods", None) or ())  # type: ignore[attr-defined]
    assert len(declared) > 60, "the walk saw the domain routes"
    for template, methods in sorted(declared.items()):
        assert_405(await client.options(concrete(template)), ", ".join(sorted(methods)))


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("DELETE", "/livez", "GET"),
        ("POST", "/metrics", "GET"),
        ("PUT", "/api/tags", "GET, POST"),
        ("DELETE", "/api/data-products", "GET, POST"),
        ("PUT", "/api/data-elements/x", "DELETE, GET, PATCH"),
        ("POST", "/openapi.json", "GET, HEAD"),
    ],
)
async def test_a_wrong_method_is_405_with_the_envelope(
    sqlite_client: AsyncClient, method: str, path: str, allow: str
) -> None:
    assert_405(await sqlite_client.request(method, path, json={}), allow)


async def test_the_root_redirects_to_the_web_ui(sqlite_client: AsyncClient) -> None:
    for method in ("GET", "HEAD"):
        answer = await sqlite_client.request(method, "/")
        assert answer.status_code == 307, (method, answer.status_code)
        assert answer.headers["location"] == "/ui/"
    page = await sqlite_client.get("/", follow_redirects=True)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "<h1>Find data</h1>" in page.text


async def test_the_root_redirect_needs_no_credentials(
    sqlite_url: str, open_client: Callable[[FastAPI], Awaitable[AsyncClient]]
) -> None:
    client = await open_client(create_app(base_settings(sqlite_url, enable_auth=True)))
    assert error_of(await client.get("/api/data-products"), 401)
    answer = await client.get("/")
    assert (answer.status_code, answer.headers["location"]) == (307, "/ui/")
    page = await client.get("/ui/")
    assert (page.status_code, page.headers["location"]) == (303, "/ui/sign-in?next=%2Fui%2F")


async def test_an_app_that_served_and_stopped_is_freed(sqlite_url: str) -> None:
    # The route table was cached in a WeakKeyDictionary whose values reached the app, so no
    # app ever died: a test session kept every app it built (~15k objects each) and full
    # collections grew to seconds. Serve a request (the cache fills), stop, drop, collect.
    freeze_startup_heap()  # done already if an app started before; it would hold this one
    app = create_app(base_settings(sqlite_url))
    async with started(app) as manager:
        transport = ASGITransport(app=manager.app)
        async with AsyncClient(transport=transport, base_url="http://catalog.test") as client:
            assert (await client.get("/api/nowhere")).status_code == 404
    assert flat_routes(app)  # filled
    freed = weakref.ref(app)
    del app, manager, transport, client
    gc.collect()
    assert freed() is None, [type(r).__qualname__ for r in gc.get_referrers(freed())]


def selected(app: FastAPI, method: str, path: str) -> tuple[str, int]:
    """What the app's router picks for a request, as its top-level loop does: the first full
    match, else the first partial one (a 405), else nothing; with the entry's position."""
    scope = {"type": "http", "method": method, "path": path, "root_path": "", "app": app}
    partial = None
    for position, entry in enumerate(app.router.routes):
        match, _ = entry.matches(scope)
        if match is Match.FULL:
            return "full", position
        if match is Match.PARTIAL and partial is None:
            partial = position
    return ("partial", partial) if partial is not None else ("none", -1)


def test_the_route_index_selects_what_trying_every_route_selects(sqlite_url: str) -> None:
    # route_index lets an included router decline a path whose first two segments none of
    # its routes has; the choice must be the one trying every route makes, for every route
    # and for paths beside them (a trailing slash, a longer path, an unknown head).
    indexed, plain = create_app(base_settings(sqlite_url)), create_app(base_settings(sqlite_url))
    route_index.install(indexed)
    assert sum("matches" in vars(entry) for entry in indexed.router.routes) >= 25
    first = [vars(entry).get("matches") for entry in indexed.router.routes]
    route_index.install(indexed)  # a second start of the app does not wrap them again
    assert [vars(entry).get("matches") for entry in indexed.router.routes] == first
    checked = 0
    for route in flat_routes(plain):
        path = concrete(route.path)  # type: ignore[attr-defined]
        for variant in (path, path + "/", path + "/more", "/x" + path, path.replace("/", "/y", 1)):
            for method in ("GET", "POST", "DELETE"):
                expected = selected(plain, method, variant)
                assert selected(indexed, method, variant) == expected, (method, variant)
                checked += expected[0] != "none"
    assert checked > 100  # the variants reached real routes, not only 404s


async def test_paths_beside_indexed_routes_answer_as_before(sqlite_client: AsyncClient) -> None:
    error_of(await sqlite_client.get("/api/discoverx/search"), 404)
    error_of(await sqlite_client.get("/api/discover/nowhere"), 404)
    assert_405(await sqlite_client.delete("/api/discover/suggest"), "GET")
    slash = await sqlite_client.get("/api/discover/suggest/?q=cu")  # redirected, as before
    assert slash.status_code == 307
    assert slash.headers["location"] == "http://catalog.test/api/discover/suggest?q=cu"


def test_the_route_index_reads_a_prefix_given_at_include(sqlite_url: str) -> None:
    # Our routers carry their prefix themselves, but a router included with a prefix must be
    # found under it, not declined.
    inner = APIRouter()
    inner.add_api_route("/items", lambda: {"ok": True}, methods=["GET"])
    outer = APIRouter()
    outer.include_router(inner, prefix="/deep")
    indexed, plain = create_app(base_settings(sqlite_url)), create_app(base_settings(sqlite_url))
    for app in (indexed, plain):
        app.include_router(outer, prefix="/extra")
    route_index.install(indexed)
    assert "matches" in vars(indexed.router.routes[-1])
    assert route_index.literal_heads(outer.routes, "/extra") == {("extra", "deep")}
    for path in ("/extra/deep/items", "/deep/items", "/items", "/extra/items"):
        assert selected(indexed, "GET", path) == selected(plain, "GET", path), path
    assert selected(indexed, "GET", "/extra/deep/items")[0] == "full"
