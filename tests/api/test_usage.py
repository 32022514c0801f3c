"""Usage of data products: views, unique viewers, ratings, and their counters under load."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from httpx import AsyncClient

from tests.support.api import create_product, error_of, ok
from tests.support.audit import audit_actions

MISSING = "00000000-0000-0000-0000-000000000000"


def usage_path(product_id: str) -> str:
    return f"/api/data-products/{product_id}/usage"


async def view(client: AsyncClient, product_id: str, user_id: str | None = None) -> Any:
    body: dict[str, Any] = {"event": "view"}
    if user_id is not None:
        body["user_id"] = user_id
    return ok(await client.post(usage_path(product_id), json=body), 201)


async def rate(client: AsyncClient, product_id: str, user_id: str, rating: int, **more: Any) -> Any:
    body = {"event": "rating", "user_id": user_id, "rating": rating} | more
    return ok(await client.post(usage_path(product_id), json=body), 201)


async def stats_of(client: AsyncClient, product_id: str) -> Any:
    return ok(await client.get(usage_path(product_id)))


async def test_new_product_has_zero_stats(client: AsyncClient) -> None:
    product = await create_product(client)
    stats = await stats_of(client, product["id"])
    assert stats["product_id"] == product["id"]
    assert stats["view_count"] == 0
    assert stats["unique_viewers"] == 0
    assert stats["rating_count"] == 0
    assert stats["average_rating"] is None
    assert stats["last_viewed_at"] is None


async def test_views_count_every_view_and_each_viewer_once(client: AsyncClient) -> None:
    product = await create_product(client)
    await view(client, product["id"], "alice")
    answered = await view(client, product["id"], "alice")
    assert answered["view_count"] == 2
    assert answered["unique_viewers"] == 1
    assert answered["last_viewed_at"] is not None
    await view(client, product["id"], "bob")
    stats = await stats_of(client, product["id"])
    assert (stats["view_count"], stats["unique_viewers"]) == (3, 2)


async def test_anonymous_views_count_views_only(client: AsyncClient) -> None:
    product = await create_product(client)
    await view(client, product["id"])
    answered = await view(client, product["id"])
    assert (answered["view_count"], answered["unique_viewers"]) == (2, 0)


async def test_views_of_one_product_do_not_touch_another(client: AsyncClient) -> None:
    viewed, other = await create_product(client), await create_product(client)
    await view(client, viewed["id"], "alice")
    assert (await stats_of(client, other["id"]))["view_count"] == 0


async def test_views_are_not_audited_but_ratings_are(
    client: AsyncClient, database_url: str
) -> None:
    product = await create_product(client)
    await view(client, product["id"], "alice")
    await rate(client, product["id"], "alice", 4)
    await rate(client, product["id"], "alice", 3)
    actions = await audit_actions(database_url, product["id"])
    assert actions.count("rate") == 2
    assert "view" not in actions
    assert actions.count("create") == 1  # the product itself, nothing for the view


async def test_a_user_rerating_replaces_their_rating(client: AsyncClient) -> None:
    product = await create_product(client)
    first = await rate(client, product["id"], "alice", 2, comment="meh")
    assert (first["rating_count"], first["rating_sum"], first["average_rating"]) == (1, 2, 2.0)
    second = await rate(client, product["id"], "alice", 5)
    assert (second["rating_count"], second["rating_sum"], second["average_rating"]) == (1, 5, 5.0)
    stats = await stats_of(client, product["id"])
    assert stats["average_rating"] == 5.0


async def test_average_across_users(client: AsyncClient) -> None:
    product = await create_product(client)
    for user, rating in (("a", 5), ("b", 4), ("c", 4)):
        await rate(client, product["id"], user, rating)
    stats = await stats_of(client, product["id"])
    assert stats["rating_count"] == 3
    assert stats["rating_sum"] == 13
    assert stats["average_rating"] == pytest.approx(13 / 3, abs=1e-4)


async def test_unknown_product_is_404(client: AsyncClient) -> None:
    error_of(await client.get(usage_path(MISSING)), 404)
    error_of(await client.post(usage_path(MISSING), json={"event": "view"}), 404)
    rating = {"event": "rating", "user_id": "alice", "rating": 3}
    error_of(await client.post(usage_path(MISSING), json=rating), 404)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"event": "click"},
        {"event": "view", "user_id": ""},
        {"event": "view", "user_id": "x" * 201},
        {"event": "view", "unexpected": 1},
        {"event": "rating", "rating": 3},
        {"event": "rating", "user_id": "alice"},
        {"event": "rating", "user_id": "alice", "rating": 0},
        {"event": "rating", "user_id": "alice", "rating": 6},
        {"event": "rating", "user_id": "alice", "rating": "5"},
        {"event": "rating", "user_id": "alice", "rating": 4.5},
        {"event": "rating", "user_id": "alice", "rating": True},
        {"event": "rating", "user_id": "alice", "rating": 3, "comment": 7},
    ],
)
async def test_bad_events_are_422(client: AsyncClient, body: dict[str, Any]) -> None:
    product = await create_product(client)
    error = error_of(await client.post(usage_path(product["id"]), json=body), 422)
    assert error["errors"]
    stats = await stats_of(client, product["id"])
    assert (stats["view_count"], stats["rating_count"]) == (0, 0)


async def test_concurrent_views_lose_nothing(client: AsyncClient) -> None:
    product = await create_product(client)
    await asyncio.gather(*(view(client, product["id"], f"user-{i % 10}") for i in range(50)))
    stats = await stats_of(client, product["id"])
    assert stats["view_count"] == 50
    assert stats["unique_viewers"] == 10


async def test_concurrent_ratings_by_many_users_sum_exactly(client: AsyncClient) -> None:
    product = await create_product(client)
    ratings = [1 + i % 5 for i in range(20)]
    await asyncio.gather(
        *(rate(client, product["id"], f"user-{i}", r) for i, r in enumerate(ratings))
    )
    stats = await stats_of(client, product["id"])
    assert stats["rating_count"] == 20
    assert stats["rating_sum"] == sum(ratings)


async def test_concurrent_reratings_by_one_user_count_once(client: AsyncClient) -> None:
    product = await create_product(client)
    ratings = [1 + i % 5 for i in range(10)]
    await asyncio.gather(*(rate(client, product["id"], "alice", r) for r in ratings))
    stats = await stats_of(client, product["id"])
    assert stats["rating_count"] == 1
    # Whichever request ran last left its rating; the sum is exactly that one rating.
    assert stats["rating_sum"] in ratings
    assert stats["average_rating"] == stats["rating_sum"]
