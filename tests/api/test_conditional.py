"""Conditional requests: ETag on JSON GET/HEAD answers, If-None-Match -> 304, If-Match -> 412.

Every test runs on SQLite and on PostgreSQL (the `client` fixture).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI, Response
from fastapi.responses import StreamingResponse
from httpx import AsyncClient

from catalog.app import create_app
from catalog.conditional.etags import etag_of
from catalog.settings import Settings
from tests.support.api import create_element, create_product, error_of, ok, unique
from tests.support.metrics import scrape, value

STRONG_ETAG = re.compile(r'^"[0-9a-f]{32}"$')
CACHE_CONTROL = "private, no-cache"


@dataclass(frozen=True)
class Kind:
    """A resource kind with If-Match on PATCH and DELETE: how to make one, how to change it."""

    name: str
    create: Callable[[AsyncClient], Awaitable[str]]  # -> the resource's path
    field: str  # a field a PATCH may set to any short text

    def change(self, text: str) -> dict[str, str]:
        return {self.field: text}


async def _post(client: AsyncClient, path: str, body: dict[str, Any]) -> str:
    created = ok(await client.post(path, json=body), 201)
    return f"{path}/{created['id']}"


async def _product(client: AsyncClient) -> str:
    return f"/api/data-products/{(await create_product(client))['id']}"


async def _element(client: AsyncClient) -> str:
    return f"/api/data-elements/{(await create_element(client))['id']}"


async def _tag(client: AsyncClient) -> str:
    return await _post(client, "/api/tags", {"name": unique("tag")})


async def _concept(client: AsyncClient) -> str:
    body = {"name": unique("concept"), "object_class": "Customer", "property": "Name"}
    return await _post(client, "/api/data-element-concepts", body)


async def _value_domain(client: AsyncClient) -> str:
    body = {"name": unique("domain"), "type": "non_enumerated", "data_type": "string"}
    return await _post(client, "/api/value-domains", body)


async def _representation(client: AsyncClient) -> str:
    return await _post(client, "/api/representations", {"name": unique("repr")})


KINDS = [
    Kind("data product", _product, "description"),
    Kind("data element", _element, "definition"),
    Kind("tag", _tag, "description"),
    Kind("data element concept", _concept, "definition"),
    Kind("value domain", _value_domain, "description"),
    Kind("representation", _representation, "unit_of_measure"),
]
by_name = pytest.mark.parametrize("kind", KINDS, ids=lambda kind: kind.name)


async def etag(client: AsyncClient, path: str) -> str:
    response = await client.get(path)
    ok(response)
    tag = response.headers["etag"]
    assert STRONG_ETAG.match(tag), tag
    return tag


# --- ETag and If-None-Match -----------------------------------------------------------------


async def test_get_answers_a_strong_etag_of_the_body_and_the_same_one_again(
    client: AsyncClient,
) -> None:
    path = await _product(client)
    first = await client.get(path)
    ok(first)
    assert first.headers["etag"] == etag_of(first.content)
    assert first.headers["cache-control"] == CACHE_CONTROL
    second = await client.get(path)
    assert second.headers["etag"] == first.headers["etag"]


async def test_if_none_match_with_the_current_etag_is_304_without_a_body(
    client: AsyncClient,
) -> None:
    path = await _product(client)
    current = await etag(client, path)
    answer = await client.get(path, headers={"If-None-Match": current})
    assert answer.status_code == 304
    assert answer.content == b""
    assert answer.headers["etag"] == current
    assert answer.headers["cache-control"] == CACHE_CONTROL
    assert "content-length" not in answer.headers
    assert "content-type" not in answer.headers
    assert "x-request-id" in answer.headers


@pytest.mark.parametrize(
    "header",
    ['"0000", {etag}', '{etag}, W/"1111"', "W/{etag}", "*", ' "a" ,{etag} '],
    ids=["listed-second", "listed-first", "weak-compares-equal", "star", "spaces"],
)
async def test_if_none_match_lists_compare_weakly(client: AsyncClient, header: str) -> None:
    path = await _product(client)
    current = await etag(client, path)
    answer = await client.get(path, headers={"If-None-Match": header.format(etag=current)})
    assert answer.status_code == 304


@pytest.mark.parametrize("header", ['"other"', 'W/"other"', "not-a-tag", '""'])
async def test_if_none_match_with_another_tag_is_the_full_answer(
    client: AsyncClient, header: str
) -> None:
    path = await _product(client)
    answer = await client.get(path, headers={"If-None-Match": header})
    assert ok(answer)["id"] == path.rsplit("/", 1)[1]
    assert answer.headers["etag"] == etag_of(answer.content)


async def test_after_a_patch_the_etag_changes_and_the_old_one_gets_the_new_body(
    client: AsyncClient,
) -> None:
    path = await _product(client)
    old = await etag(client, path)
    ok(await client.patch(path, json={"description": "changed"}))
    answer = await client.get(path, headers={"If-None-Match": old})
    assert ok(answer)["description"] == "changed"
    assert answer.headers["etag"] != old
    again = await client.get(path, headers={"If-None-Match": answer.headers["etag"]})
    assert again.status_code == 304


@pytest.mark.parametrize(
    "path",
    [
        "/api/data-products",
        "/api/data-elements",
        "/api/tags",
        "/api/tags?tree=true",
        "/api/data-element-concepts",
        "/api/value-domains",
        "/api/representations",
    ],
)
async def test_lists_have_etags_that_change_with_their_content(
    client: AsyncClient, path: str
) -> None:
    for kind in KINDS:
        await kind.create(client)
    before = await etag(client, path)
    assert (await client.get(path, headers={"If-None-Match": before})).status_code == 304
    for kind in KINDS:
        await kind.create(client)
    answer = await client.get(path, headers={"If-None-Match": before})
    ok(answer)
    assert answer.headers["etag"] != before


async def test_head_answers_the_get_headers_without_the_body_and_304(
    client: AsyncClient,
) -> None:
    path = await _product(client)
    get = await client.get(path)
    current = get.headers["etag"]
    before = await scrape(client)
    head = await client.head(path)
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["etag"] == current
    assert head.headers["content-length"] == str(len(get.content))
    assert head.headers["cache-control"] == CACHE_CONTROL
    conditional = await client.head(path, headers={"If-None-Match": current})
    assert conditional.status_code == 304
    assert conditional.headers["etag"] == current
    listed = await client.head("/api/data-products")
    assert listed.status_code == 200
    assert listed.content == b""
    assert STRONG_ETAG.match(listed.headers["etag"])
    missing = await client.head("/api/data-products/nope")
    assert missing.status_code == 404
    assert missing.content == b""
    after = await scrape(client)
    labels = {"method": "HEAD", "endpoint": "/api/data-products/{product_id}"}
    for status in ("200", "304", "404"):
        counted = value(after, "catalog_requests_total", **labels, status=status) - value(
            before, "catalog_requests_total", **labels, status=status
        )
        assert counted == 1, status


async def test_errors_writes_and_metrics_carry_no_etag(client: AsyncClient) -> None:
    missing = await client.get("/api/data-products/nope", headers={"If-None-Match": "*"})
    error_of(missing, 404)
    assert "etag" not in missing.headers
    created = await client.post(
        "/api/tags", json={"name": unique("tag")}, headers={"If-None-Match": "*"}
    )
    ok(created, 201)
    assert "etag" not in created.headers
    metrics = await client.get("/metrics", headers={"If-None-Match": "*"})
    assert metrics.status_code == 200
    assert "etag" not in metrics.headers


async def test_304_counts_once_with_status_304(client: AsyncClient) -> None:
    path = await _product(client)
    current = await etag(client, path)
    labels = {"method": "GET", "endpoint": "/api/data-products/{product_id}"}
    before = await scrape(client)
    answer = await client.get(path, headers={"If-None-Match": current})
    assert answer.status_code == 304
    after = await scrape(client)

    def delta(name: str, status: str) -> float:
        return value(after, name, **labels, status=status) - value(
            before, name, **labels, status=status
        )

    assert delta("catalog_requests_total", "304") == 1
    assert delta("catalog_requests_total", "200") == 0
    assert delta("catalog_response_size_bytes_count", "304") == 1
    assert delta("catalog_response_size_bytes_sum", "304") == 0


async def test_handler_etags_and_cache_policies_are_kept_and_streams_pass_untagged(
    make_settings: Callable[..., Settings],
    open_client: Callable[[FastAPI], Awaitable[AsyncClient]],
) -> None:
    app = create_app(make_settings())

    @app.get("/t/own")
    async def own() -> Response:
        return Response(
            b'{"own": true}',
            media_type="application/json",
            headers={"ETag": 'W/"v7"', "Cache-Control": "max-age=60", "Vary": "Accept"},
        )

    @app.get("/t/stream")
    async def stream() -> StreamingResponse:
        async def chunks() -> Any:
            yield b'{"a": '
            yield b"1}"

        return StreamingResponse(chunks(), media_type="application/json")

    @app.get("/t/text")
    async def text() -> Response:
        return Response(b"plain", media_type="text/plain")

    client = await open_client(app)
    own_answer = await client.get("/t/own")
    assert own_answer.headers["etag"] == 'W/"v7"'
    assert own_answer.headers["cache-control"] == "max-age=60"
    revalidated = await client.get("/t/own", headers={"If-None-Match": '"v7"'})
    assert revalidated.status_code == 304
    assert revalidated.headers["etag"] == 'W/"v7"'
    assert revalidated.headers["cache-control"] == "max-age=60"
    assert revalidated.headers["vary"] == "Accept"
    streamed = await client.get("/t/stream", headers={"If-None-Match": "*"})
    assert streamed.status_code == 200
    assert streamed.json() == {"a": 1}
    assert "etag" not in streamed.headers
    plain = await client.get("/t/text", headers={"If-None-Match": "*"})
    assert plain.status_code == 200
    assert "etag" not in plain.headers


# --- If-Match --------------------------------------------------------------------------------


@by_name
async def test_patch_with_the_current_etag_succeeds(client: AsyncClient, kind: Kind) -> None:
    path = await kind.create(client)
    current = await etag(client, path)
    changed = await client.patch(path, json=kind.change("new"), headers={"If-Match": current})
    assert ok(changed)[kind.field] == "new"
    listed = await client.patch(
        path, json=kind.change("newer"), headers={"If-Match": f'"nope", {await etag(client, path)}'}
    )
    assert ok(listed)[kind.field] == "newer"


@by_name
async def test_patch_with_a_stale_etag_is_412_and_changes_nothing(
    client: AsyncClient, kind: Kind
) -> None:
    path = await kind.create(client)
    stale = await etag(client, path)
    ok(await client.patch(path, json=kind.change("first")))  # someone else's change
    seen = ok(await client.get(path))
    lost = await client.patch(path, json=kind.change("second"), headers={"If-Match": stale})
    error = error_of(lost, 412)
    assert error["message"] == "Precondition Failed"
    assert "If-Match" in error["details"]
    assert ok(await client.get(path)) == seen


@by_name
async def test_delete_with_a_stale_etag_is_412_and_the_resource_stays(
    client: AsyncClient, kind: Kind
) -> None:
    path = await kind.create(client)
    stale = await etag(client, path)
    ok(await client.patch(path, json=kind.change("moved on")))
    error_of(await client.delete(path, headers={"If-Match": stale}), 412)
    assert ok(await client.get(path))[kind.field] == "moved on"
    current = await etag(client, path)
    assert (await client.delete(path, headers={"If-Match": current})).status_code == 204
    error_of(await client.get(path), 404)


async def test_a_weak_etag_never_satisfies_if_match(client: AsyncClient) -> None:
    path = await _product(client)
    current = await etag(client, path)
    answer = await client.patch(
        path, json={"description": "x"}, headers={"If-Match": f"W/{current}"}
    )
    error_of(answer, 412)


async def test_if_match_star_means_exists_and_a_missing_resource_is_404(
    client: AsyncClient,
) -> None:
    """`If-Match: *` on a resource that does not exist answers 404, as without the header:
    RFC 9110 §13.2.1 has preconditions ignored when the answer would not be a 2xx anyway."""
    path = await _product(client)
    ok(await client.patch(path, json={"description": "any"}, headers={"If-Match": "*"}))
    missing = "/api/data-products/does-not-exist"
    error_of(await client.patch(missing, json={"description": "x"}, headers={"If-Match": "*"}), 404)
    error_of(await client.delete(missing, headers={"If-Match": "*"}), 404)
    assert (await client.delete(path, headers={"If-Match": "*"})).status_code == 204


async def test_without_if_match_updates_stay_unconditional(client: AsyncClient) -> None:
    path = await _tag(client)
    ok(await client.patch(path, json={"description": "one"}))
    assert ok(await client.patch(path, json={"description": "two"}))["description"] == "two"


@by_name
async def test_concurrent_patches_on_one_etag_exactly_one_wins(
    client: AsyncClient, kind: Kind
) -> None:
    path = await kind.create(client)
    seen = await etag(client, path)
    writers = 6
    answers = await asyncio.gather(
        *(
            client.patch(path, json=kind.change(f"writer {n}"), headers={"If-Match": seen})
            for n in range(writers)
        )
    )
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [200] + [412] * (writers - 1), [a.text for a in answers]
    [winner] = [answer.json() for answer in answers if answer.status_code == 200]
    for loser in (answer for answer in answers if answer.status_code == 412):
        error_of(loser, 412)
    assert ok(await client.get(path))[kind.field] == winner[kind.field]


async def test_two_clients_read_then_both_patch_one_wins(client: AsyncClient) -> None:
    path = await _product(client)
    first, second = await asyncio.gather(etag(client, path), etag(client, path))
    assert first == second
    answers = await asyncio.gather(
        client.patch(path, json={"owner": "alice@example.com"}, headers={"If-Match": first}),
        client.patch(path, json={"owner": "bob@example.com"}, headers={"If-Match": second}),
    )
    assert sorted(a.status_code for a in answers) == [200, 412]
    winner = next(a.json() for a in answers if a.status_code == 200)
    stored = ok(await client.get(path))
    assert stored["owner"] == winner["owner"]
    assert stored["revision"] == 2


async def test_concurrent_deletes_on_one_etag_delete_once(client: AsyncClient) -> None:
    """The loser sees 412 when it read the row before the winner deleted it (PostgreSQL lets
    both read, then one waits on the row lock), or 404 when it read after (SQLite serialises
    the whole write transaction)."""
    path = await _tag(client)
    seen = await etag(client, path)
    answers = await asyncio.gather(
        *(client.delete(path, headers={"If-Match": seen}) for _ in range(4))
    )
    statuses = [answer.status_code for answer in answers]
    assert statuses.count(204) == 1, statuses
    assert set(statuses) <= {204, 404, 412}, statuses
    error_of(await client.get(path), 404)
