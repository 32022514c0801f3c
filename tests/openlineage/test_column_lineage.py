"""The column-lineage walk through the HTTP surface, on SQLite and PostgreSQL: depth, both
directions, a cycle, truncation, and columns of products the caller may not see."""

from __future__ import annotations

import uuid
from typing import Any

from httpx import AsyncClient

from tests.openlineage.test_intake import applied, product_of
from tests.support.api import ok, unique

PRODUCER = "https://example.com/pipelines"
FACET = "https://openlineage.io/spec/facets/1-2-0/ColumnLineageDatasetFacet.json"


def hop(namespace: str, source: str, target: str, job: str) -> dict[str, Any]:
    """A COMPLETE run of `job` computing `target`.v from `source`.v."""
    lineage = {
        "_producer": PRODUCER,
        "_schemaURL": FACET,
        "fields": {"v": {"inputFields": [{"namespace": namespace, "name": source, "field": "v"}]}},
    }
    return {
        "eventType": "COMPLETE",
        "eventTime": "2026-12-01T00:00:00Z",
        "producer": PRODUCER,
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": str(uuid.uuid4())},
        "job": {"namespace": "jobs", "name": job},
        "inputs": [{"namespace": namespace, "name": source}],
        "outputs": [{"namespace": namespace, "name": target, "facets": {"columnLineage": lineage}}],
    }


async def chain(client: AsyncClient, hops: list[tuple[str, str]]) -> tuple[str, dict[str, str]]:
    namespace = f"s3://{unique('bucket')}"
    for source, target in hops:
        response = await client.post("/api/v1/lineage", json=hop(namespace, source, target, target))
        assert response.status_code == 201, response.text
    await applied(client)
    names = {name for pair in hops for name in pair}
    ids = {n: (await product_of(client, f"{namespace}/{n}"))["id"] for n in names}
    return namespace, ids


async def walk(client: AsyncClient, product_id: str, **params: Any) -> dict[str, Any]:
    url = f"/api/data-products/{product_id}/schema/columns/v/lineage"
    return ok(await client.get(url, params=params))  # type: ignore[no-any-return]


async def test_depth_direction_cycles_and_truncation(client: AsyncClient) -> None:
    # a -> b -> c -> d, and d -> a closes a cycle.
    _, ids = await chain(client, [("a", "b"), ("b", "c"), ("c", "d"), ("d", "a")])
    names = {v: k for k, v in ids.items()}

    def levels(answer: dict[str, Any]) -> dict[str, int]:
        return {names[n["product_id"]]: n["depth"] for n in answer["nodes"]}

    two = await walk(client, ids["d"], direction="upstream", depth=2)
    assert levels(two) == {"c": 1, "b": 2}
    assert two["truncated"] is True  # a is further up
    assert {
        (names[e["upstream_product_id"]], names[e["downstream_product_id"]]) for e in two["edges"]
    } == {("c", "d"), ("b", "c")}

    everything = await walk(client, ids["d"], direction="upstream", depth=10)
    assert levels(everything) == {"c": 1, "b": 2, "a": 3}  # the cycle ends at d itself
    assert everything["truncated"] is False
    assert len(everything["edges"]) == 4  # a -> d too: the edge back to the start

    down = await walk(client, ids["b"], direction="downstream", depth=1)
    assert levels(down) == {"c": 1}
    both = await walk(client, ids["b"], direction="both", depth=1)
    assert levels(both) == {"a": 1, "c": 1}


async def test_a_column_without_lineage_or_schema_is_a_404(client: AsyncClient) -> None:
    _, ids = await chain(client, [("x", "y")])
    url = f"/api/data-products/{ids['y']}/schema/columns/nope/lineage"
    assert (await client.get(url)).status_code == 404
    assert (await walk(client, ids["x"], direction="upstream"))["nodes"] == []
