"""The graph contract through the HTTP surface, once per store: `sql` (the default), a real
FalkorDB, and Neo4j when NEO4J_URI names one; each on SQLite and on PostgreSQL.

Catalog writes go through the API; for a projected store the test waits until the outbox is
empty (/healthz), then asks /api/graph/* and the product lineage route. Every store must give
the same answers.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest
from httpx import AsyncClient

from catalog.app import create_app
from catalog.settings import Settings
from tests.conftest import base_settings
from tests.support.api import create_element, create_product, error_of, ok, unique
from tests.support.db import execute
from tests.support.wait import until

STORES = ["sql", "falkordb", *(["neo4j"] if os.environ.get("NEO4J_URI") else [])]
SETTLE_TIMEOUT_S = 45.0


def store_settings(request: pytest.FixtureRequest, store: str) -> dict[str, Any]:
    """The settings that point the app at `store`, with its database empty."""
    if store == "falkordb":
        return {
            "graph_store": "falkordb",
            "falkordb_url": request.getfixturevalue("falkordb_url"),
            "falkordb_graph": request.getfixturevalue("falkordb_graph"),
            "graph_outbox_interval_s": 0.05,
        }
    if store == "neo4j":
        request.getfixturevalue("empty_neo4j")
        return {"graph_store": "neo4j", "graph_outbox_interval_s": 0.05}
    return {}


@pytest.fixture
async def empty_neo4j() -> None:
    """The Neo4j of NEO4J_URI, emptied (only requested when it is set)."""
    from catalog.graph.neo4j_store import Neo4jStore

    store = Neo4jStore.from_settings(Settings(graph_store="neo4j"))
    try:
        await store.clear()
    finally:
        await store.close()


@pytest.fixture(params=STORES)
def graph_settings(request: pytest.FixtureRequest, database_url: str) -> Callable[..., Settings]:
    extra = store_settings(request, request.param)
    return lambda **overrides: base_settings(database_url, **(extra | overrides))


@pytest.fixture
async def client(graph_settings: Callable[..., Settings], open_client: Any) -> AsyncClient:
    answer: AsyncClient = await open_client(create_app(graph_settings()))
    return answer


async def settled(client: AsyncClient, timeout_s: float = SETTLE_TIMEOUT_S) -> dict[str, Any]:
    """Wait until a projected store has caught up with every committed write."""
    seen: dict[str, Any] = {}

    async def drained() -> dict[str, Any] | None:
        seen.clear()
        seen.update(ok(await client.get("/healthz"))["graph"])
        return dict(seen) if not seen["projected"] or seen.get("pending") == 0 else None

    return await until(drained, lambda: f"the outbox draining (last: {seen})", timeout_s)


async def neighbours(client: AsyncClient, label: str, node_id: str, **params: Any) -> Any:
    await settled(client)
    return ok(
        await client.get("/api/graph/neighbours", params={"node": f"{label}:{node_id}"} | params)
    )


def ends(answer: dict[str, Any]) -> set[tuple[str, str, str | None]]:
    """(edge type, neighbour label, neighbour name) of a neighbours answer."""
    names = {(n["label"], n["id"]): n["name"] for n in answer["nodes"]}
    start = (answer["node"]["label"], answer["node"]["id"])
    found = set()
    for edge in answer["edges"]:
        near = (edge["source_label"], edge["source_id"])
        far = (edge["target_label"], edge["target_id"]) if near == start else near
        found.add((edge["type"], far[0], names.get(far)))
    return found


async def tag(client: AsyncClient, **fields: Any) -> dict[str, Any]:
    return ok(await client.post("/api/tags", json={"name": unique("tag")} | fields), 201)  # type: ignore[no-any-return]


async def feed(client: AsyncClient, downstream: str, upstream: str, kind: str = "product") -> None:
    ok(
        await client.post(
            f"/api/data-products/{downstream}/lineage",
            json={"upstream_id": upstream, "upstream_type": kind},
        ),
        201,
    )


async def small_catalog(client: AsyncClient) -> dict[str, Any]:
    """A product with a tag (child of another), a version, and a member element whose
    representation has a value domain."""
    parent = await tag(client, name="domain", category="subject")
    child = await tag(client, name="payments", category="subject", parent_tag_id=parent["id"])
    domain = ok(
        await client.post(
            "/api/value-domains",
            json={"name": unique("amounts"), "type": "non_enumerated", "data_type": "decimal"},
        ),
        201,
    )
    element = await create_element(
        client,
        name="amount",
        representation={"name": "money", "data_type": "decimal", "value_domain_id": domain["id"]},
    )
    product = await create_product(client, name="ledger")
    pid = product["id"]
    ok(await client.post(f"/api/data-products/{pid}/tags", json={"tag_id": child["id"]}), 201)
    ok(await client.post(f"/api/data-products/{pid}/versions", json={"version": "1.0.0"}), 201)
    ok(
        await client.post(
            f"/api/data-products/{pid}/elements", json={"data_element_id": element["id"]}
        ),
        201,
    )
    return {
        "product": product,
        "element": element,
        "tag": child,
        "parent": parent,
        "domain": domain,
    }


async def test_every_relationship_of_the_catalog_is_in_the_graph(client: AsyncClient) -> None:
    made = await small_catalog(client)
    product, element = made["product"], made["element"]

    out = await neighbours(client, "DataProduct", product["id"], direction="out")
    assert out["node"] == {
        "label": "DataProduct",
        "id": product["id"],
        "name": "ledger",
        "depth": 0,
    }
    assert ends(out) == {
        ("HAS_TAG", "Tag", "payments"),
        ("HAS_VERSION", "DataProductVersion", "1.0.0"),
        ("CONTAINS", "DataElement", "amount"),
    }
    assert out["truncated"] is False
    assert all(n["depth"] == 1 for n in out["nodes"])

    uses = await neighbours(client, "DataElement", element["id"], direction="out")
    assert ends(uses) == {
        ("USES_CONCEPT", "DataElementConcept", "concept of amount"),
        ("USES_REPRESENTATION", "ValueDomain", made["domain"]["name"]),
    }
    contained = await neighbours(client, "DataElement", element["id"], direction="in")
    assert ends(contained) == {("CONTAINS", "DataProduct", "ledger")}

    tag_both = await neighbours(client, "Tag", made["tag"]["id"])
    assert ends(tag_both) == {("CHILD_OF", "Tag", "domain"), ("HAS_TAG", "DataProduct", "ledger")}
    only = await neighbours(client, "Tag", made["tag"]["id"], types="CHILD_OF")
    assert ends(only) == {("CHILD_OF", "Tag", "domain")}

    first = await neighbours(client, "DataProduct", product["id"], direction="out", limit=1)
    assert len(first["nodes"]) == 1
    assert first["truncated"] is True


async def test_writes_change_the_graph(client: AsyncClient) -> None:
    made = await small_catalog(client)
    pid, tid = made["product"]["id"], made["tag"]["id"]

    ok(await client.patch(f"/api/data-products/{pid}", json={"name": "general ledger"}))
    assert ends(await neighbours(client, "Tag", tid, direction="in")) == {
        ("HAS_TAG", "DataProduct", "general ledger")
    }
    ok(await client.delete(f"/api/data-products/{pid}/tags/{tid}"), 204)
    assert ends(await neighbours(client, "Tag", tid, direction="in")) == set()
    ok(await client.delete(f"/api/data-elements/{made['element']['id']}"), 409)  # still a member
    ok(await client.delete(f"/api/data-products/{pid}"), 204)
    element = await neighbours(client, "DataElement", made["element"]["id"], direction="in")
    assert ends(element) == set()
    error_of(await client.get("/api/graph/neighbours", params={"node": f"DataProduct:{pid}"}), 404)


async def test_lineage_is_served_by_the_store(client: AsyncClient) -> None:
    a, b, c, d = [(await create_product(client, name=f"L{n}"))["id"] for n in "ABCD"]
    element = await create_element(client, name="source_field")
    await feed(client, b, a)  # A -> B -> C -> D, and the element -> A
    await feed(client, c, b)
    await feed(client, d, c)
    await feed(client, a, element["id"], "element")
    await settled(client)

    def lineage(product: str, **params: Any) -> Any:
        return client.get(f"/api/data-products/{product}/lineage", params=params)

    down = ok(await lineage(a, direction="downstream", depth=2))
    assert [(n["name"], n["depth"]) for n in down["nodes"]] == [("LA", 0), ("LB", 1), ("LC", 2)]
    assert down["truncated"] is True  # D lies beyond depth 2
    up = ok(await lineage(d, direction="upstream", depth=10))
    assert [n["name"] for n in up["nodes"]] == ["LD", "LC", "LB", "LA", "source_field"]
    assert up["truncated"] is False
    assert {(e["upstream_id"], e["downstream_id"]) for e in up["edges"]} == {
        (c, d),
        (b, c),
        (a, b),
        (element["id"], a),
    }
    assert {e["upstream_type"] for e in up["edges"]} == {"product", "element"}
    both = ok(await lineage(b))
    assert {n["name"] for n in both["nodes"]} == {"LA", "LB", "LC", "LD", "source_field"}

    ok(
        await client.delete(
            f"/api/data-products/{c}/lineage/{b}", params={"upstream_type": "product"}
        ),
        204,
    )
    await settled(client)
    cut = ok(await lineage(d, direction="upstream", depth=10))
    assert [n["name"] for n in cut["nodes"]] == ["LD", "LC"]


async def test_lineage_size_is_bounded(
    graph_settings: Callable[..., Settings], open_client: Any
) -> None:
    client = await open_client(create_app(graph_settings(lineage_max_nodes=10)))
    hub = (await create_product(client, name="hub"))["id"]
    for i in range(15):
        await feed(client, (await create_product(client, name=f"spoke-{i}"))["id"], hub)
    await settled(client)
    answer = ok(await client.get(f"/api/data-products/{hub}/lineage"))
    assert len(answer["nodes"]) == 10
    assert answer["truncated"] is True


async def test_shortest_path_for_impact_analysis(client: AsyncClient) -> None:
    shared = await create_element(client, name="customer_id")
    one, two = [await create_product(client, name=n) for n in ("crm", "billing")]
    for product in (one, two):
        ok(
            await client.post(
                f"/api/data-products/{product['id']}/elements",
                json={"data_element_id": shared["id"]},
            ),
            201,
        )
    await settled(client)

    def path(source: str, target: str, **params: Any) -> Any:
        return client.get("/api/graph/path", params={"from": source, "to": target} | params)

    found = ok(await path(f"DataProduct:{one['id']}", f"DataProduct:{two['id']}"))
    assert found["found"] is True
    assert found["length"] == 2
    assert [n["name"] for n in found["nodes"]] == ["crm", "customer_id", "billing"]
    assert [e["type"] for e in found["edges"]] == ["CONTAINS", "CONTAINS"]
    too_short = ok(await path(f"DataProduct:{one['id']}", f"DataProduct:{two['id']}", max_depth=1))
    assert too_short["found"] is False
    assert too_short["nodes"] == []
    itself = ok(await path(f"DataProduct:{one['id']}", f"DataProduct:{one['id']}"))
    assert itself["length"] == 0
    error_of(await path(f"DataProduct:{one['id']}", "DataProduct:missing"), 404)


async def test_bare_ids_name_their_node_whatever_its_kind(client: AsyncClient) -> None:
    made = await small_catalog(client)
    out = await neighbours(client, "DataProduct", made["product"]["id"], direction="out")
    version = next(n for n in out["nodes"] if n["label"] == "DataProductVersion")
    nodes = {
        "DataProduct": made["product"]["id"],
        "DataElement": made["element"]["id"],
        "DataElementConcept": made["element"]["data_element_concept_id"],
        "ValueDomain": made["domain"]["id"],
        "DataProductVersion": version["id"],
        "Tag": made["tag"]["id"],
    }
    for label, node_id in nodes.items():
        bare = ok(await client.get("/api/graph/neighbours", params={"node": node_id}))
        assert bare == await neighbours(client, label, node_id), label
        assert bare["node"]["label"] == label

    def path(source: str, target: str) -> Any:
        return client.get("/api/graph/path", params={"from": source, "to": target})

    product, tag = nodes["DataProduct"], nodes["Tag"]
    labelled = ok(await path(f"DataProduct:{product}", f"Tag:{tag}"))
    assert labelled["found"] is True
    assert ok(await path(product, tag)) == labelled
    assert ok(await path(product, f"Tag:{tag}")) == labelled  # the two forms mix
    error = error_of(await path(product, "00000000-0000-0000-0000-000000000000"), 404)
    assert "00000000-0000-0000-0000-000000000000" in error["details"]


async def test_a_bare_id_of_two_kinds_is_422_saying_so(
    client: AsyncClient, database_url: str
) -> None:
    product = await create_product(client)
    made = await tag(client)
    # The service never gives two rows the same id; an id written into the catalog from
    # outside (a restore, a migration from another catalog) can. Made here the only way there is.
    await execute(
        database_url, "UPDATE tags SET id = :new WHERE id = :old", new=product["id"], old=made["id"]
    )
    error = error_of(await client.get("/api/graph/neighbours", params={"node": product["id"]}), 422)
    assert "ambiguous" in error["details"]
    assert f"DataProduct:{product['id']}" in error["details"]
    assert f"Tag:{product['id']}" in error["details"]
    route = {"from": product["id"], "to": f"Tag:{product['id']}"}
    assert "from" in error_of(await client.get("/api/graph/path", params=route), 422)["details"]
    # Naming the kind settles it.
    for label in ("DataProduct", "Tag"):
        answer = ok(
            await client.get("/api/graph/neighbours", params={"node": f"{label}:{product['id']}"})
        )
        assert answer["node"]["label"] == label


async def test_bad_graph_questions_get_clear_errors(client: AsyncClient) -> None:
    product = await create_product(client)

    def ask(**params: Any) -> Any:
        return client.get("/api/graph/neighbours", params=params)

    for node in ("Person:1", "DataProduct:", ":xy"):
        assert "Label:id" in str(error_of(await ask(node=node), 422))
    error_of(await ask(node="no-colon"), 404)  # a bare id, of nothing
    error_of(await ask(node="P:"), 422)  # too short to be one
    error_of(await ask(node=f"DataProduct:{product['id']}", types="KNOWS"), 422)
    error_of(await ask(node=f"DataProduct:{product['id']}", direction="sideways"), 422)
    error_of(await ask(node=f"DataProduct:{product['id']}", limit=0), 422)
    error_of(await ask(node=f"DataProduct:{product['id']}", limit=100_000), 422)
    error_of(await ask(node="DataProduct:" + "x" * 200), 422)
    error_of(await ask(), 422)
    error_of(await ask(node="DataProduct:nope"), 404)
    path = "/api/graph/path"
    node = f"DataProduct:{product['id']}"
    error_of(await client.get(path, params={"from": node, "to": node, "max_depth": 0}), 422)
    error_of(await client.get(path, params={"from": node, "to": node, "max_depth": 21}), 422)
    error_of(await client.get(path, params={"from": node}), 422)


INJECTIONS = [
    "x'}) DETACH DELETE n //",
    '") MATCH (n) DETACH DELETE n //',
    "a\\'b\\\\c",
    "{id: 1} $rows ${x}",
    "x' OR 1=1 --",
    "ünïcødé ✓ 名前",
    "`backtick` ; MATCH (m) DELETE m",
]


async def test_cypher_injection_through_names_and_ids_is_inert(client: AsyncClient) -> None:
    made = await small_catalog(client)
    products = [await create_product(client, name=name) for name in INJECTIONS]
    for product in products:
        ok(
            await client.post(
                f"/api/data-products/{product['id']}/tags", json={"tag_id": made["tag"]["id"]}
            ),
            201,
        )
    await settled(client)
    tagged = await neighbours(client, "Tag", made["tag"]["id"], direction="in", types="HAS_TAG")
    assert {name for _, _, name in ends(tagged)} == {"ledger", *INJECTIONS}
    for text in INJECTIONS:  # as node ids: not found, nothing else happens
        for label in ("DataProduct", "Tag"):
            answer = await client.get("/api/graph/neighbours", params={"node": f"{label}:{text}"})
            assert answer.status_code in (404, 422), answer.text
    intact = await neighbours(client, "DataProduct", made["product"]["id"], direction="out")
    assert len(intact["edges"]) == 3


async def test_restricted_products_stay_hidden(
    graph_settings: Callable[..., Settings], open_client: Any, tmp_path: Any
) -> None:
    from tests.test_auth import TOKENS, bearer, write_tokens

    tokens = write_tokens(tmp_path / "tokens", TOKENS)
    client = await open_client(
        create_app(graph_settings(enable_auth=True, auth_tokens_file=tokens))
    )
    editor = bearer("steward")  # writes as a steward, who sees restricted products
    secret = await create_product(
        client, editor, name="secret", team="risk", visibility="restricted"
    )
    public = await create_product(client, editor, name="open")
    shared = await create_element(client, editor, name="shared_key")
    for product in (secret, public):
        ok(
            await client.post(
                f"/api/data-products/{product['id']}/elements",
                json={"data_element_id": shared["id"]},
                headers=editor,
            ),
            201,
        )
    await feed_as(client, bearer("steward"), public["id"], secret["id"])  # sees both
    version = ok(
        await client.post(
            f"/api/data-products/{secret['id']}/versions", json={"version": "9.9.9"}, headers=editor
        ),
        201,
    )
    await settled(client)

    params = {"node": f"DataElement:{shared['id']}"}
    seen = ok(await client.get("/api/graph/neighbours", params=params, headers=bearer("viewer")))
    assert {n["name"] for n in seen["nodes"]} == {"open", f"concept of {shared['name']}"}
    everything = ok(
        await client.get("/api/graph/neighbours", params=params, headers=bearer("viewer2"))
    )
    assert {"open", "secret"} <= {n["name"] for n in everything["nodes"]}
    hidden = {"node": f"DataProduct:{secret['id']}"}
    error_of(
        await client.get("/api/graph/neighbours", params=hidden, headers=bearer("viewer")), 404
    )
    bare = {"node": secret["id"]}
    error_of(await client.get("/api/graph/neighbours", params=bare, headers=bearer("viewer")), 404)
    ok(await client.get("/api/graph/neighbours", params=bare, headers=bearer("viewer2")))
    lineage = ok(
        await client.get(f"/api/data-products/{public['id']}/lineage", headers=bearer("viewer"))
    )
    assert [n["name"] for n in lineage["nodes"]] == ["open"]
    assert lineage["edges"] == []
    of_version = {"node": f"DataProductVersion:{version['id']}"}
    error_of(
        await client.get("/api/graph/neighbours", params=of_version, headers=bearer("viewer")), 404
    )
    ok(await client.get("/api/graph/neighbours", params=of_version, headers=bearer("viewer2")))
    route = {"from": f"DataProduct:{public['id']}", "to": f"DataElement:{shared['id']}"}
    ok(await client.get("/api/graph/path", params=route, headers=bearer("viewer")))
    error_of(await client.get("/api/graph/neighbours", params=params), 401)


async def feed_as(
    client: AsyncClient, headers: dict[str, str], downstream: str, upstream: str
) -> None:
    ok(
        await client.post(
            f"/api/data-products/{downstream}/lineage",
            json={"upstream_id": upstream},
            headers=headers,
        ),
        201,
    )
