"""Data element quality: measurements, scores and levels, history, and the exported gauge."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient

from catalog.app import create_app
from catalog.quality.metrics import EXPORTED
from catalog.quality.scoring import overall_score, quality_level
from catalog.settings import Settings
from tests.support.api import create_element, error_of, ok
from tests.support.metrics import scrape, series, value

GAUGE = "catalog_data_element_quality_score"
DROPPED = "catalog_quality_metric_series_dropped_total"


def quality_url(element_id: str) -> str:
    return f"/api/data-elements/{element_id}/quality"


def dimensions(
    completeness: float, accuracy: float, consistency: float, timeliness: float
) -> dict[str, float]:
    return {
        "completeness": completeness,
        "accuracy": accuracy,
        "consistency": consistency,
        "timeliness": timeliness,
    }


async def measure(
    client: AsyncClient, element_id: str, *values: float, **more: Any
) -> dict[str, Any]:
    body = dimensions(*values) | more
    return ok(await client.post(quality_url(element_id), json=body), 201)  # type: ignore[no-any-return]


# (dimensions, overall score, level): each level's boundary, just below it, and the rounding.
LEVEL_CASES = [
    ((1, 1, 1, 1), 1.0, "excellent"),
    ((0.9, 0.9, 0.9, 0.9), 0.9, "excellent"),
    ((1.0, 0.8, 0.9, 0.9), 0.9, "excellent"),
    ((0.8999, 0.8999, 0.8999, 0.8999), 0.8999, "good"),
    ((0.75, 0.75, 0.75, 0.75), 0.75, "good"),
    ((1.0, 0.5, 0.75, 0.75), 0.75, "good"),
    ((0.7499, 0.7499, 0.7499, 0.7499), 0.7499, "fair"),
    ((0.5, 0.5, 0.5, 0.5), 0.5, "fair"),
    ((0.1, 0.2, 0.7, 1.0), 0.5, "fair"),
    ((0.4999, 0.4999, 0.4999, 0.4999), 0.4999, "poor"),
    ((0, 0, 0, 0), 0.0, "poor"),
    ((0.12345, 0.5, 0.5, 0.5), 0.4059, "poor"),  # 0.4058625 rounded to 4 places
    ((0.99999, 0.99999, 0.8, 0.8), 0.9, "excellent"),  # 0.899995 rounds up to 0.9
]


def test_scoring_rules() -> None:
    for values, score, level in LEVEL_CASES:
        assert overall_score(*values) == score, values
        assert quality_level(score) == level, values


async def test_score_and_level_at_the_boundaries(client: AsyncClient) -> None:
    element = await create_element(client)
    for values, score, level in LEVEL_CASES:
        measurement = await measure(client, element["id"], *values)
        assert (measurement["overall_score"], measurement["level"]) == (score, level), values
        assert measurement["data_element_id"] == element["id"]
        shown = ok(await client.get(f"/api/data-elements/{element['id']}"))
        assert (shown["quality_score"], shown["quality_level"]) == (score, level)


async def test_measurement_fields_and_history(client: AsyncClient) -> None:
    element = await create_element(client)
    untouched = await create_element(client)
    empty = ok(await client.get(quality_url(element["id"])))
    assert empty == {
        "data_element_id": element["id"],
        "latest": None,
        "history": [],
        "total": 0,
        "limit": 50,
        "offset": 0,
    }
    first = await measure(client, element["id"], 0.5, 0.5, 0.5, 0.5, source="dq-job", notes="n1")
    assert (first["source"], first["notes"], first["measured_by"]) == ("dq-job", "n1", "anonymous")
    assert (first["completeness"], first["timeliness"]) == (0.5, 0.5)
    second = await measure(client, element["id"], 0.8, 0.8, 0.8, 0.8)
    third = await measure(client, element["id"], 0.95, 0.95, 0.95, 0.95)

    found = ok(await client.get(quality_url(element["id"])))
    assert found["latest"] == third
    assert [m["id"] for m in found["history"]] == [third["id"], second["id"], first["id"]]
    assert found["total"] == 3
    page = ok(await client.get(quality_url(element["id"]), params={"limit": 1, "offset": 1}))
    assert [m["id"] for m in page["history"]] == [second["id"]]
    assert (page["latest"], page["total"], page["limit"], page["offset"]) == (third, 3, 1, 1)
    # The element is found by its registry identifier too; other elements are untouched.
    by_identifier = ok(await client.get(quality_url(element["identifier"])))
    assert by_identifier["total"] == 3
    assert ok(await client.get(f"/api/data-elements/{untouched['id']}"))["quality_score"] is None
    # Deleting the element takes its measurements with it.
    assert (await client.delete(f"/api/data-elements/{element['id']}")).status_code == 204
    error_of(await client.get(quality_url(element["id"])), 404)


async def test_unknown_element_is_404(client: AsyncClient) -> None:
    error_of(await client.post(quality_url("missing"), json=dimensions(1, 1, 1, 1)), 404)
    error_of(await client.get(quality_url("missing")), 404)


@pytest.mark.parametrize(
    "override",
    [
        {"completeness": 1.01},
        {"accuracy": -0.01},
        {"consistency": "high"},
        {"timeliness": None},
        {"source": "s" * 201},
        {"notes": "bell\u0007"},
        {"score": 1},
    ],
)
async def test_bad_measurements_are_422(client: AsyncClient, override: dict[str, Any]) -> None:
    element = await create_element(client)
    url = quality_url(element["id"])
    error_of(await client.post(url, json=dimensions(1, 1, 1, 1) | override), 422)
    for missing in ("completeness", "accuracy", "consistency", "timeliness"):
        body = dimensions(1, 1, 1, 1)
        body.pop(missing)
        error_of(await client.post(url, json=body), 422)
    error_of(await client.get(url, params={"limit": 0}), 422)
    assert ok(await client.get(url))["total"] == 0
    assert ok(await client.get(f"/api/data-elements/{element['id']}"))["quality_score"] is None


async def test_concurrent_measurements_leave_the_newest_on_the_element(
    client: AsyncClient,
) -> None:
    element = await create_element(client)
    scores = [round(0.02 * i, 2) for i in range(1, 51)]
    await asyncio.gather(*(measure(client, element["id"], s, s, s, s) for s in scores))
    found = ok(await client.get(quality_url(element["id"])))
    assert found["total"] == len(scores)
    assert sorted(m["overall_score"] for m in found["history"]) == sorted(scores)
    shown = ok(await client.get(f"/api/data-elements/{element['id']}"))
    assert (shown["quality_score"], shown["quality_level"]) == (
        found["latest"]["overall_score"],
        found["latest"]["level"],
    )
    events = ok(
        await client.get("/api/audit/events", params={"resource_type": "quality_measurement"})
    )
    assert events["total"] == len(scores)
    assert {e["details"]["data_element_id"] for e in events["items"]} == {element["id"]}


async def test_measurements_are_audited(client: AsyncClient) -> None:
    element = await create_element(client)
    first = await measure(client, element["id"], 0.5, 0.5, 0.5, 0.5)
    second = ok(
        await client.post(
            quality_url(element["id"]),
            json=dimensions(1, 1, 1, 1),
            headers={"X-Request-ID": "quality-req-1"},
        ),
        201,
    )
    [event] = ok(await client.get("/api/audit/events", params={"resource_id": second["id"]}))[
        "items"
    ]
    assert (event["action"], event["resource_type"], event["request_id"]) == (
        "create",
        "quality_measurement",
        "quality-req-1",
    )
    assert event["after"]["overall_score"] == 1.0
    assert event["details"]["element_before"] == {
        "quality_score": first["overall_score"],
        "quality_level": first["level"],
    }


async def test_gauge_shows_each_measured_element(client: AsyncClient) -> None:
    element = await create_element(client)
    await measure(client, element["id"], 0.6, 0.6, 0.6, 0.6)
    samples = await scrape(client)
    assert series(samples, GAUGE, data_element_id=element["id"]) == [
        {"data_element_id": element["id"]}
    ]
    assert value(samples, GAUGE, data_element_id=element["id"]) == 0.6
    await measure(client, element["id"], 0.9, 0.9, 0.9, 0.9)
    assert value(await scrape(client), GAUGE, data_element_id=element["id"]) == 0.9
    # A rejected measurement changes nothing.
    error_of(await client.post(quality_url(element["id"]), json=dimensions(2, 1, 1, 1)), 422)
    assert value(await scrape(client), GAUGE, data_element_id=element["id"]) == 0.9


@pytest.fixture
def empty_series_cap() -> Iterator[None]:
    """The exported set is per process and the registry global: start from an empty cap."""
    EXPORTED.reset()
    yield
    EXPORTED.reset()


@pytest.mark.usefixtures("empty_series_cap")
async def test_series_cap_drops_new_elements_and_counts_them(
    make_settings: Callable[..., Settings],
    open_client: Callable[[FastAPI], Awaitable[AsyncClient]],
) -> None:
    capped = await open_client(create_app(make_settings(quality_metric_max_series=2)))
    elements = [await create_element(capped) for _ in range(3)]
    before = value(await scrape(capped), DROPPED)
    for element in elements:
        await measure(capped, element["id"], 0.7, 0.7, 0.7, 0.7)
    samples = await scrape(capped)
    exported = [e["id"] for e in elements if series(samples, GAUGE, data_element_id=e["id"])]
    assert exported == [elements[0]["id"], elements[1]["id"]]
    assert value(samples, DROPPED) - before == 1
    # Exported elements keep updating; the dropped one stays dropped and keeps counting.
    await measure(capped, elements[0]["id"], 0.2, 0.2, 0.2, 0.2)
    await measure(capped, elements[2]["id"], 0.2, 0.2, 0.2, 0.2)
    samples = await scrape(capped)
    assert value(samples, GAUGE, data_element_id=elements[0]["id"]) == 0.2
    assert not series(samples, GAUGE, data_element_id=elements[2]["id"])
    assert value(samples, DROPPED) - before == 2
    # The API still answers for the dropped element: only the metric is capped.
    shown = ok(await capped.get(f"/api/data-elements/{elements[2]['id']}"))
    assert shown["quality_score"] == 0.2
