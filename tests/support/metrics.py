"""Read Prometheus samples the way a scraper would: from the /metrics text."""

from __future__ import annotations

from httpx import AsyncClient
from prometheus_client.parser import text_string_to_metric_families

from tests.support.wait import until


async def scrape(client: AsyncClient) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = await client.get("/metrics")
    assert response.status_code == 200
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return float(samples.get((name, frozenset(labels.items())), 0.0))


def series(samples: dict, name: str, **labels: str) -> list[dict[str, str]]:  # type: ignore[type-arg]
    """Label sets of every sample of `name` whose labels include `labels`."""
    wanted = set(labels.items())
    return [dict(lbls) for (n, lbls) in samples if n == name and wanted <= set(lbls)]


async def wait_for_in_flight(client: AsyncClient, at_least: int, timeout_s: float = 10.0) -> None:
    """Until the app reports `at_least` requests being handled (`catalog_in_flight_requests`;
    /metrics itself is not counted): the observable moment a request is in flight."""

    async def in_flight() -> bool:
        return value(await scrape(client), "catalog_in_flight_requests") >= at_least

    await until(in_flight, f"{at_least} requests in flight", timeout_s=timeout_s, every_s=0.01)
