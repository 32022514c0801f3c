"""Column lineage in the graph, through the HTTP surface and the real projection, once per
store (`sql`, a real FalkorDB, Neo4j when NEO4J_URI names one), on SQLite and PostgreSQL:
schema columns are `SchemaColumn` nodes of their product (HAS_COLUMN), column lineage joins
them (DERIVED_FROM), a schema change that keeps a column keeps its node, a dropped column's
node goes, and lineage whose end is no schema column has no edge until the column appears.

Column lineage is written as the OpenLineage applier writes it (`ExternalProducts.
link_columns` in a session of the app); schemas by `PUT /api/data-products/{id}/schema`.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from asgi_lifespan import LifespanManager
from httpx import ASGITransport, AsyncClient

from catalog.app import create_app
from catalog.graph.cypher import Statement
from catalog.graph.falkordb_store import FalkorDBStore
from catalog.identity.principal import SYSTEM
from catalog.products.external import ColumnEdge, ExternalProducts
from catalog.server.resources import Resources
from catalog.settings import Settings
from tests.conftest import base_settings
from tests.graph.test_graph_api import (
    STORES,
    empty_neo4j,  # noqa: F401  (store_settings asks for it by name)
    ends,
    neighbours,
    settled,
    store_settings,
)
from tests.graph.test_projection import cli_env, falkordb_settings, run_cli
from tests.support.api import create_product, error_of, ok, unique
from tests.support.db import query
from tests.support.lifespan import resources_of, started


@dataclass
class Catalog:
    client: AsyncClient
    resources: Resources

    async def link_columns(self, *edges: ColumnEdge) -> int:
        """Column lineage as the OpenLineage applier writes it: in a session of the app."""
        async with self.resources.write_sessions() as session:
            added = await ExternalProducts(session, SYSTEM).link_columns(list(edges))
            await session.commit()
        return added


@pytest.fixture
async def open_catalog() -> AsyncIterator[Callable[[Settings], Any]]:
    stack: list[tuple[LifespanManager, AsyncClient]] = []

    async def opener(settings: Settings) -> Catalog:
        manager = started(create_app(settings))
        await manager.__aenter__()
        client = AsyncClient(transport=ASGITransport(app=manager.app), base_url="http://c.test")
        stack.append((manager, client))
        return Catalog(client, resources_of(manager))

    yield opener
    for manager, client in reversed(stack):
        await client.aclose()
        await manager.__aexit__(None, None, None)


@pytest.fixture(params=STORES)
async def catalog(
    request: pytest.FixtureRequest, database_url: str, open_catalog: Callable[[Settings], Any]
) -> Catalog:
    extra = store_settings(request, request.param)
    made: Catalog = await open_catalog(base_settings(database_url, **extra))
    return made


VERSIONS = itertools.count(1)  # a new version number for every schema put


def col(name: str, physical_type: str = "bigint") -> dict[str, Any]:
    return {"name": name, "physical_type": physical_type}


async def put_schema(client: AsyncClient, product_id: str, *columns: dict[str, Any]) -> None:
    body = {"version": f"{next(VERSIONS)}.0.0", "columns": list(columns)}
    ok(await client.put(f"/api/data-products/{product_id}/schema", json=body))


async def columns_of(client: AsyncClient, product_id: str) -> dict[str, str]:
    """Name -> node id of the product's SchemaColumn neighbours, as the graph answers."""
    answer = await neighbours(
        client, "DataProduct", product_id, direction="out", types="HAS_COLUMN"
    )
    assert {e["type"] for e in answer["edges"]} <= {"HAS_COLUMN"}
    return {n["name"]: n["id"] for n in answer["nodes"] if n["label"] == "SchemaColumn"}


async def derived_from(client: AsyncClient, column_id: str, direction: str = "out") -> set[str]:
    """Names of the columns one DERIVED_FROM away (out: what it derives from)."""
    answer = await neighbours(
        client, "SchemaColumn", column_id, direction=direction, types="DERIVED_FROM"
    )
    return {name for _, label, name in ends(answer) if label == "SchemaColumn" and name}


async def two_products(catalog: Catalog) -> tuple[str, str, dict[str, str]]:
    """`orders` (id, amount) feeding `revenue` (customer, total) column by column; names
    unique to the test (a schema's column names name data elements)."""
    client = catalog.client
    names = {n: unique(n) for n in ("id", "amount", "customer", "total", "missing", "gone")}
    orders = (await create_product(client, name=unique("orders")))["id"]
    revenue = (await create_product(client, name=unique("revenue")))["id"]
    await put_schema(client, orders, col(names["id"]), col(names["amount"], "numeric(10,2)"))
    await put_schema(client, revenue, col(names["customer"]), col(names["total"], "numeric(10,2)"))
    added = await catalog.link_columns(
        ColumnEdge(
            orders, names["amount"], revenue, names["total"], "INDIRECT/AGGREGATION", "etl/rev"
        ),
        ColumnEdge(orders, names["id"], revenue, names["customer"], "DIRECT/IDENTITY"),
        # No schema column at one end: no node, so no edge (yet).
        ColumnEdge(orders, names["missing"], revenue, names["total"]),
        ColumnEdge(orders, names["id"], revenue, names["gone"]),
    )
    assert added == 4
    return orders, revenue, names


async def test_columns_and_their_lineage_are_in_the_graph(catalog: Catalog) -> None:
    client = catalog.client
    orders, revenue, names = await two_products(catalog)

    ordered = await columns_of(client, orders)
    assert set(ordered) == {names["id"], names["amount"]}
    revenued = await columns_of(client, revenue)
    assert set(revenued) == {names["customer"], names["total"]}
    everything = await neighbours(client, "DataProduct", revenue, direction="out")
    assert {("HAS_COLUMN", "SchemaColumn", names["total"])} <= ends(everything)

    total = revenued[names["total"]]
    assert await derived_from(client, total) == {names["amount"]}  # `missing` has no node
    assert await derived_from(client, ordered[names["amount"]], "in") == {names["total"]}
    assert await derived_from(client, ordered[names["id"]], "in") == {names["customer"]}
    of_product = await neighbours(client, "SchemaColumn", total, direction="in")
    assert [(n["label"], n["id"]) for n in of_product["nodes"]] == [("DataProduct", revenue)]
    assert [e["type"] for e in of_product["edges"]] == ["HAS_COLUMN"]

    # A bare column id names its node; an unknown one is a 404 naming the kind.
    bare = ok(await client.get("/api/graph/neighbours", params={"node": total}))
    assert bare["node"] == {
        "label": "SchemaColumn",
        "id": total,
        "name": names["total"],
        "depth": 0,
    }
    error = error_of(
        await client.get("/api/graph/neighbours", params={"node": "SchemaColumn:nope"}), 404
    )
    assert "schema column" in str(error)

    # Impact analysis across products through their columns (no product lineage drawn).
    path = ok(
        await client.get(
            "/api/graph/path",
            params={"from": f"DataProduct:{revenue}", "to": f"DataProduct:{orders}"},
        )
    )
    assert path["found"] is True
    assert path["length"] == 3
    assert [n["label"] for n in path["nodes"]] == [
        "DataProduct",
        "SchemaColumn",
        "SchemaColumn",
        "DataProduct",
    ]
    assert [e["type"] for e in path["edges"]] == ["HAS_COLUMN", "DERIVED_FROM", "HAS_COLUMN"]


async def test_a_schema_change_keeps_the_nodes_of_the_columns_it_keeps(
    catalog: Catalog, database_url: str
) -> None:
    client = catalog.client
    orders, revenue, names = await two_products(catalog)
    before = await columns_of(client, orders)
    total = (await columns_of(client, revenue))[names["total"]]

    # `amount` kept (moved first, its type changed), `id` dropped, `missing` added.
    await put_schema(
        client,
        orders,
        col(names["amount"], "numeric(12,2)"),
        col(names["missing"], "numeric(10,2)"),
    )
    after = await columns_of(client, orders)
    assert set(after) == {names["amount"], names["missing"]}
    assert after[names["amount"]] == before[names["amount"]]  # the same node
    rows = await query(
        database_url,
        "SELECT id, name, position, physical_type FROM product_schema_columns "
        "WHERE product_id = :p ORDER BY position",
        p=orders,
    )
    assert [(r.id, r.name, r.position, r.physical_type) for r in rows] == [
        (before[names["amount"]], names["amount"], 0, "numeric(12,2)"),
        (after[names["missing"]], names["missing"], 1, "numeric(10,2)"),
    ]

    # The dropped column's node is gone, and its lineage with it.
    gone = {"node": f"SchemaColumn:{before[names['id']]}"}
    error_of(await client.get("/api/graph/neighbours", params=gone), 404)
    customer = (await columns_of(client, revenue))[names["customer"]]
    assert await derived_from(client, customer) == set()
    # The column that appeared is reached by the lineage naming it (in a projected store:
    # the new column named the columns deriving from it).
    assert await derived_from(client, total) == {names["amount"], names["missing"]}
    # Lineage into a column that appears later reaches it too.
    await put_schema(
        client,
        revenue,
        col(names["customer"]),
        col(names["total"], "numeric(10,2)"),
        col(names["gone"]),
    )
    assert (await columns_of(client, revenue))[names["total"]] == total
    appeared = (await columns_of(client, revenue))[names["gone"]]
    assert await derived_from(client, appeared) == set()  # its upstream `id` was dropped
    await put_schema(
        client,
        orders,
        col(names["amount"], "numeric(12,2)"),
        col(names["missing"], "numeric(10,2)"),
        col(names["id"]),
    )
    assert await derived_from(client, appeared) == {names["id"]}
    assert await derived_from(client, customer) == {names["id"]}


async def test_columns_of_restricted_products_stay_hidden(
    database_url: str, open_catalog: Callable[[Settings], Any], tmp_path: Any
) -> None:
    from tests.test_auth import TOKENS, bearer, write_tokens

    tokens = write_tokens(tmp_path / "tokens", TOKENS)
    catalog: Catalog = await open_catalog(
        base_settings(database_url, enable_auth=True, auth_tokens_file=tokens)
    )
    client, steward = catalog.client, bearer("steward")
    secret = await create_product(
        client, steward, name=unique("secret"), team="risk", visibility="restricted"
    )
    name = unique("key")
    ok(
        await client.put(
            f"/api/data-products/{secret['id']}/schema",
            json={"version": "1.0.0", "columns": [col(name)]},
            headers=steward,
        )
    )
    [[column]] = await query(
        database_url, "SELECT id FROM product_schema_columns WHERE product_id = :p", p=secret["id"]
    )
    for node in (f"SchemaColumn:{column}", column):
        params = {"node": node}
        error_of(
            await client.get("/api/graph/neighbours", params=params, headers=bearer("viewer")), 404
        )
        seen = ok(
            await client.get("/api/graph/neighbours", params=params, headers=bearer("viewer2"))
        )
        assert seen["node"]["name"] == name


# ---- the Cypher store holds what the catalog tables say ---------------------------------------


async def cypher_edges(url: str, graph: str) -> set[tuple[str, str, str, str]]:
    """(type, source id, target id, properties as JSON) of the FalkorDB graph's column edges."""
    store = FalkorDBStore(url, graph, max_connections=2, timeout_s=5.0)
    try:
        [rows] = await store._run(
            "dump",
            [
                Statement(
                    "MATCH (a)-[r]->(b:SchemaColumn) RETURN type(r), a.id, b.id, properties(r)"
                )
            ],
        )
    finally:
        await store.close()
    return {(t, a, b, json.dumps(p, sort_keys=True)) for t, a, b, p in rows}


async def cypher_columns(url: str, graph: str) -> dict[str, dict[str, Any]]:
    store = FalkorDBStore(url, graph, max_connections=2, timeout_s=5.0)
    try:
        [rows] = await store._run(
            "dump", [Statement("MATCH (n:SchemaColumn) RETURN n.id, properties(n)")]
        )
    finally:
        await store.close()
    return {row[0]: row[1] for row in rows}


async def sql_edges(database_url: str) -> set[tuple[str, str, str, str]]:
    """The same, from the catalog tables (the `sql` store's view)."""
    rows = await query(
        database_url,
        "SELECT type, source_id, target_id, transformation, job FROM graph_edges "
        "WHERE target_label = 'SchemaColumn'",
    )
    found = set()
    for row in rows:
        props = {} if row.type == "HAS_COLUMN" else {"transformation": row.transformation}
        if row.job:
            props["job"] = row.job
        found.add((row.type, row.source_id, row.target_id, json.dumps(props, sort_keys=True)))
    return found


async def test_the_cypher_store_holds_the_same_column_graph(
    database_url: str,
    falkordb_url: str,
    falkordb_graph: str,
    open_catalog: Callable[[Settings], Any],
) -> None:
    catalog: Catalog = await open_catalog(
        falkordb_settings(database_url, falkordb_url, falkordb_graph)
    )
    client = catalog.client
    orders, revenue, names = await two_products(catalog)
    await settled(client)
    expected = await sql_edges(database_url)
    assert len([e for e in expected if e[0] == "DERIVED_FROM"]) == 2
    assert len([e for e in expected if e[0] == "HAS_COLUMN"]) == 4
    assert await cypher_edges(falkordb_url, falkordb_graph) == expected
    nodes = await cypher_columns(falkordb_url, falkordb_graph)
    total = (await columns_of(client, revenue))[names["total"]]
    assert nodes[total] == {
        "id": total,
        "name": names["total"],
        "physical_type": "numeric(10,2)",
        "product_id": revenue,
    }

    # A schema change: the kept column's node stays, the dropped one goes, edges follow.
    await put_schema(client, orders, col(names["amount"], "numeric(12,2)"))
    await settled(client)
    assert await cypher_edges(falkordb_url, falkordb_graph) == await sql_edges(database_url)
    nodes = await cypher_columns(falkordb_url, falkordb_graph)
    assert {n["name"] for n in nodes.values()} == {
        names["amount"],
        names["customer"],
        names["total"],
    }

    # A rebuild from the catalog tables gives the same graph.
    incremental = await cypher_edges(falkordb_url, falkordb_graph), nodes
    env = cli_env(database_url, falkordb_url, falkordb_graph)
    rebuilt = await asyncio.to_thread(run_cli, "graph", "rebuild", env=env)
    assert rebuilt.exit_code == 0, rebuilt.output
    again = (
        await cypher_edges(falkordb_url, falkordb_graph),
        await cypher_columns(falkordb_url, falkordb_graph),
    )
    assert again == incremental

    # A deleted product takes its column nodes with it (ON DELETE CASCADE, named before).
    ok(await client.delete(f"/api/data-products/{orders}"), 204)
    await settled(client)
    nodes = await cypher_columns(falkordb_url, falkordb_graph)
    assert {n["product_id"] for n in nodes.values()} == {revenue}
    assert await cypher_edges(falkordb_url, falkordb_graph) == await sql_edges(database_url)
