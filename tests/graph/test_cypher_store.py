"""FalkorDBStore against a real FalkorDB server: what it writes (checked with a client of its
own, not through the store), what its walks answer, its indexes, injection, outages, metrics.

The Cypher text is shared with the Neo4j store (graph/cypher.py, graph/cypher_store.py), so
this is also the test of that shared text on one of its two dialects.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, cast

import pytest
import redis.asyncio as aioredis
import redis.exceptions
from falkordb.asyncio.graph import AsyncGraph
from prometheus_client import REGISTRY

from catalog.graph.cypher import Statement
from catalog.graph.falkordb_store import EMPTY_KEY, FalkorDBStore
from catalog.graph.model import (
    Edge,
    FoundNode,
    Label,
    NodeRef,
    NodeState,
    RelType,
    Subgraph,
)
from catalog.graph.store import GraphUnavailable
from tests.support.falkordb_server import FalkorDBServer

TIMEOUT_S = 2.0
MAX_CONNECTIONS = 4

NodeKey = tuple[str, str]  # (label, id)
EdgeKey = tuple[str, str, str, str, str]  # (source label, source id, type, target label, id)


def product(key: str) -> NodeRef:
    return NodeRef("DataProduct", key)


def element(key: str) -> NodeRef:
    return NodeRef("DataElement", key)


def tag(key: str) -> NodeRef:
    return NodeRef("Tag", key)


def version(key: str) -> NodeRef:
    return NodeRef("DataProductVersion", key)


def edge(kind: RelType, source: NodeRef, target: NodeRef, /, **props: Any) -> Edge:
    return Edge(kind, source, target, props)


def state(ref: NodeRef, /, *edges: Edge, **props: Any) -> NodeState:
    return NodeState(ref, props, edges)


def gone(ref: NodeRef) -> NodeState:
    return NodeState(ref, None)


def key(ref: NodeRef) -> NodeKey:
    return (ref.label, ref.id)


def ekey(kind: str, source: NodeRef, target: NodeRef) -> EdgeKey:
    return (source.label, source.id, kind, target.label, target.id)


class Probe:
    """Reads the graph with FalkorDB's own client, so the checks do not go through the code
    under test: every node and relationship, with their properties."""

    def __init__(self, url: str, graph: str) -> None:
        self._redis = aioredis.Redis.from_url(url, decode_responses=True)
        self._graph = AsyncGraph(self._redis, graph)

    async def _rows(self, text: str) -> list[list[Any]]:
        try:
            result = await self._graph.ro_query(text)
        except redis.exceptions.ResponseError as exc:
            if EMPTY_KEY in str(exc):
                return []
            raise
        return [list(row) for row in result.result_set]

    async def nodes(self) -> dict[NodeKey, dict[str, Any]]:
        rows = await self._rows("MATCH (n) RETURN labels(n)[0], n.id, properties(n)")
        found = {(name, node_id): dict(props) for name, node_id, props in rows}
        assert len(found) == len(rows), f"two nodes share a label and id: {rows}"
        return found

    async def edges(self) -> dict[EdgeKey, dict[str, Any]]:
        rows = await self._rows(
            "MATCH (a)-[r]->(b) RETURN labels(a)[0], a.id, type(r), labels(b)[0], b.id, "
            "properties(r)"
        )
        found = {(sl, si, kind, tl, ti): dict(props) for sl, si, kind, tl, ti, props in rows}
        assert len(found) == len(rows), f"a relationship is doubled: {rows}"
        return found

    async def snapshot(self) -> tuple[dict[NodeKey, dict[str, Any]], dict[EdgeKey, dict[str, Any]]]:
        return await self.nodes(), await self.edges()

    async def close(self) -> None:
        await self._redis.aclose()


@pytest.fixture
async def store(falkordb_url: str, falkordb_graph: str) -> AsyncIterator[FalkorDBStore]:
    graph_store = FalkorDBStore(
        falkordb_url, falkordb_graph, max_connections=MAX_CONNECTIONS, timeout_s=TIMEOUT_S
    )
    yield graph_store
    await graph_store.close()


@pytest.fixture
async def probe(falkordb_url: str, falkordb_graph: str) -> AsyncIterator[Probe]:
    reader = Probe(falkordb_url, falkordb_graph)
    yield reader
    await reader.close()


def refs(subgraph: Subgraph) -> dict[NodeRef, int]:
    return {node.ref: node.depth for node in subgraph.nodes}


def edge_keys(edges: Sequence[Edge]) -> set[EdgeKey]:
    return {ekey(e.type, e.source, e.target) for e in edges}


def count(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def queries(query_type: str, status: str) -> float:
    return count("catalog_neo4j_query_duration_seconds_count", query_type=query_type, status=status)


# ---- writes -----------------------------------------------------------------------------------


async def test_upsert_creates_nodes_with_props_and_outgoing_edges(
    store: FalkorDBStore, probe: Probe
) -> None:
    p, t, e = product("p1"), tag("t1"), element("e1")
    await store.upsert(
        [
            state(t, name="pii", category="privacy"),
            state(e, name="email", identifier="urn:e1"),
            state(
                p,
                edge("HAS_TAG", p, t, timestamp=1700000000, confidence=0.5, source="manual"),
                edge("CONTAINS", p, e),
                name="Customers",
                owner="crm",
                rank=3,
                active=True,
                keywords=["a", "b"],
            ),
        ]
    )
    nodes, edges = await probe.snapshot()
    assert nodes == {
        key(p): {
            "id": "p1",
            "name": "Customers",
            "owner": "crm",
            "rank": 3,
            "active": True,
            "keywords": ["a", "b"],
        },
        key(t): {"id": "t1", "name": "pii", "category": "privacy"},
        key(e): {"id": "e1", "name": "email", "identifier": "urn:e1"},
    }
    assert edges == {
        ekey("HAS_TAG", p, t): {"timestamp": 1700000000, "confidence": 0.5, "source": "manual"},
        ekey("CONTAINS", p, e): {},
    }
    assert await store.node(p)
    assert await store.node(t)


async def test_applying_the_same_states_twice_changes_nothing(
    store: FalkorDBStore, probe: Probe
) -> None:
    p, t, e = product("p1"), tag("t1"), element("e1")
    states = [
        state(p, edge("HAS_TAG", p, t, timestamp=1), edge("CONTAINS", p, e), name="P"),
        state(e, edge("DERIVED_FROM", e, p, relationship="copy"), name="E"),
        state(t, name="T"),
    ]
    await store.upsert(states)
    first = await probe.snapshot()
    await store.upsert(states)
    await store.upsert(list(reversed(states)))
    assert await probe.snapshot() == first
    nodes, edges = first
    assert (len(nodes), len(edges)) == (3, 3)


async def test_a_new_state_replaces_props_and_outgoing_edges_but_not_incoming(
    store: FalkorDBStore, probe: Probe
) -> None:
    p, t1, t2, other = product("p1"), tag("t1"), tag("t2"), product("p2")
    await store.upsert(
        [
            state(t1, name="one"),
            state(t2, name="two"),
            state(p, edge("HAS_TAG", p, t1, timestamp=1, source="old"), name="P", old="x"),
            state(other, edge("DERIVED_FROM", other, p), name="other"),
        ]
    )
    await store.upsert([state(p, edge("HAS_TAG", p, t2, timestamp=2), name="P2")])
    nodes, edges = await probe.snapshot()
    assert nodes[key(p)] == {"id": "p1", "name": "P2"}  # `old` is gone, not kept
    assert edges == {
        ekey("HAS_TAG", p, t2): {"timestamp": 2},  # the old edge is gone, no `source` left over
        ekey("DERIVED_FROM", other, p): {},  # p's incoming edge is not p's to replace
    }
    # the same relationship with new properties: replaced, not doubled
    await store.upsert([state(p, edge("HAS_TAG", p, t2, confidence=0.9), name="P2")])
    assert (await probe.edges())[ekey("HAS_TAG", p, t2)] == {"confidence": 0.9}
    # a state without edges drops them all
    await store.upsert([state(p, name="P3")])
    assert await probe.edges() == {ekey("DERIVED_FROM", other, p): {}}


async def test_an_edge_to_a_node_not_yet_upserted_makes_a_placeholder(
    store: FalkorDBStore, probe: Probe
) -> None:
    p, t = product("p1"), tag("later")
    await store.upsert([state(p, edge("HAS_TAG", p, t, timestamp=1), name="P")])

    assert not await store.node(t)  # not a node of its own yet
    assert await store.names([t]) == {t: None}
    reached = await store.neighbours(p, "out", None, 10)
    assert reached.nodes == [FoundNode(p, "P", 0), FoundNode(t, None, 1)]
    assert edge_keys(reached.edges) == {ekey("HAS_TAG", p, t)}

    await store.upsert([state(t, name="late tag", category="c")])
    assert await store.node(t)
    nodes, edges = await probe.snapshot()
    assert nodes[key(t)] == {"id": "later", "name": "late tag", "category": "c"}  # no mark
    assert edges == {ekey("HAS_TAG", p, t): {"timestamp": 1}}  # the edge survived
    assert await store.names([t]) == {t: "late tag"}


async def test_an_edge_to_an_existing_node_does_not_make_it_a_placeholder(
    store: FalkorDBStore, probe: Probe
) -> None:
    p, t = product("p1"), tag("t1")
    await store.upsert([state(t, name="T")])
    await store.upsert([state(p, edge("HAS_TAG", p, t), name="P")])
    assert await store.node(t)
    assert (await probe.nodes())[key(t)] == {"id": "t1", "name": "T"}


async def test_a_state_without_props_deletes_the_node_and_all_its_edges(
    store: FalkorDBStore, probe: Probe
) -> None:
    p, e, up, t = product("p1"), element("e1"), product("up"), tag("t1")
    await store.upsert(
        [
            state(t, name="T"),
            state(up, name="UP"),
            state(e, edge("DERIVED_FROM", e, p), name="E"),  # incoming to p
            state(p, edge("HAS_TAG", p, t), edge("DERIVED_FROM", p, up), name="P"),  # outgoing
        ]
    )
    await store.upsert([gone(p)])
    nodes, edges = await probe.snapshot()
    assert set(nodes) == {key(t), key(up), key(e)}
    assert edges == {}
    assert not await store.node(p)
    assert (await store.neighbours(e, "both", None, 10)).nodes == [FoundNode(e, "E", 0)]


async def test_delete_removes_the_nodes_and_their_edges_and_nothing_else(
    store: FalkorDBStore, probe: Probe
) -> None:
    p, e, t = product("p1"), element("e1"), tag("t1")
    same_id = element("p1")  # same id, other label: another node
    await store.upsert(
        [
            state(t, name="T"),
            state(same_id, name="element p1"),
            state(e, edge("DERIVED_FROM", e, p), edge("DERIVED_FROM", e, same_id), name="E"),
            state(p, edge("HAS_TAG", p, t), name="P"),
        ]
    )
    await store.delete([p, product("never-existed")])
    nodes, edges = await probe.snapshot()
    assert set(nodes) == {key(t), key(same_id), key(e)}
    assert edges == {ekey("DERIVED_FROM", e, same_id): {}}
    await store.delete([])  # nothing to do, no query
    await store.delete([e, t])
    assert set(await probe.nodes()) == {key(same_id)}


async def test_a_batch_applies_upserts_and_deletes_in_their_order(
    store: FalkorDBStore, probe: Probe
) -> None:
    p, t = product("p1"), tag("t1")
    # the edge is written, then its target deleted (with the edge)
    await store.upsert([state(t, name="T"), state(p, edge("HAS_TAG", p, t), name="P"), gone(t)])
    nodes, edges = await probe.snapshot()
    assert set(nodes) == {key(p)}
    assert edges == {}
    # the target is deleted, then an edge to it written: a placeholder again
    await store.upsert([gone(t), state(p, edge("HAS_TAG", p, t), name="P")])
    nodes, edges = await probe.snapshot()
    assert set(edges) == {ekey("HAS_TAG", p, t)}
    assert not await store.node(t)
    # a ref named twice keeps its last state only
    await store.upsert([state(t, name="first"), state(t, name="second")])
    assert (await probe.nodes())[key(t)] == {"id": "t1", "name": "second"}
    await store.upsert([state(t, name="back"), gone(t)])
    assert key(t) not in await probe.nodes()


async def test_property_values_round_trip(store: FalkorDBStore, probe: Probe) -> None:
    values: dict[str, Any] = {
        "int_max": 2**63 - 1,
        "int_min": -(2**63),
        "zero": 0,
        "false": False,
        "true": True,
        "empty": "",
        "tiny": 1e-7,
        "huge": 1e20,
        "negative_zero": -0.0,
        "half": 0.5,
        "ints": [1, 2, 3],
        "floats": [1.5, -2.25],
        "strings": ["a", "", "b c"],
        "bools": [True, False],
        "empty_list": [],
        "tuple": ("x", "y"),
        "none": None,
    }
    await store.upsert([state(tag("t"), **values)])
    stored = (await probe.nodes())[key(tag("t"))]
    expected = {name: list(v) if isinstance(v, tuple) else v for name, v in values.items()}
    del expected["none"]  # a null property is no property (on Neo4j too)
    assert stored == {**expected, "id": "t"}
    assert {name: type(v) for name, v in stored.items()} == {
        name: type(v) for name, v in {**expected, "id": "t"}.items()
    }


async def test_floats_come_back_with_15_significant_digits(
    store: FalkorDBStore, probe: Probe
) -> None:
    """FalkorDB stores the double as sent but replies with 15 significant digits (%.15g), so
    a property or edge property like 1/3 reads back close, not equal."""
    third = 1 / 3
    p, t = product("p"), tag("t")
    await store.upsert([state(p, edge("HAS_TAG", p, t, confidence=third), share=third)])
    assert (await probe.nodes())[key(p)]["share"] == pytest.approx(third, rel=1e-14)
    [found] = (await store.neighbours(p, "out", None, 1)).edges
    assert found.props["confidence"] == pytest.approx(third, rel=1e-14)


@pytest.mark.parametrize(
    "props",
    [
        {"at": datetime(2024, 1, 1, tzinfo=UTC)},
        {"nested": {"a": 1}},
        {"nested_list": [[1]]},
        {"list_with_null": ["a", None]},
        {"nan": float("nan")},
        {"inf": float("inf")},
        {"big": 2**63},
        {"bad`key": 1},
        {"": 1},
        {"_placeholder": True},
    ],
    ids=lambda props: next(iter(props)) or "empty-key",
)
async def test_unsupported_properties_are_refused_before_any_query(
    store: FalkorDBStore, monkeypatch: pytest.MonkeyPatch, props: dict[str, Any]
) -> None:
    forbid_queries(store, monkeypatch)
    p = product("p")
    with pytest.raises(ValueError, match=r"property|int64|integer"):
        await store.upsert([NodeState(p, props)])
    with pytest.raises(ValueError, match=r"property|int64|integer"):
        await store.upsert([state(p, Edge("HAS_TAG", p, tag("t"), props))])


async def test_an_edge_must_start_at_its_node(store: FalkorDBStore) -> None:
    p = product("p")
    with pytest.raises(ValueError, match="starts at"):
        await store.upsert([state(p, edge("HAS_TAG", product("other"), tag("t")))])


# ---- reads ------------------------------------------------------------------------------------


async def test_reads_of_a_graph_never_written_answer_the_empty_graph(
    store: FalkorDBStore,
) -> None:
    """A fresh server has no graph key at all; FalkorDB refuses to read one ("empty key")."""
    p = product("p")
    await store.ping()
    assert not await store.node(p)
    assert await store.names([p]) == {}
    assert (await store.neighbours(p, "both", None, 10)).nodes == [FoundNode(p, None, 0)]
    assert (await store.lineage(p, "both", 3, 10)).nodes == [FoundNode(p, None, 0)]
    assert await store.path(p, product("q"), 4) is None
    assert await store.indexes() == set()
    await store.delete([p])  # a write creates the (empty) graph; reads still answer empty
    assert not await store.node(p)
    await store.clear()


async def test_neighbours_by_direction_type_and_limit(store: FalkorDBStore) -> None:
    p, downstream = product("p"), product("downstream")
    t1, t2, e, v = tag("t1"), tag("t2"), element("e"), version("v1")
    await store.upsert(
        [
            state(t1, name="T1"),
            state(t2, name="T2"),
            state(e, name="E"),
            state(v, version="1.0.0"),
            state(
                p,
                edge("HAS_TAG", p, t1, timestamp=1),
                edge("HAS_TAG", p, t2, timestamp=2),
                edge("CONTAINS", p, e),
                edge("HAS_VERSION", p, v),
                name="P",
            ),
            state(downstream, edge("DERIVED_FROM", downstream, p), name="D"),
        ]
    )

    out = await store.neighbours(p, "out", None, 10)
    assert out.nodes == [
        FoundNode(p, "P", 0),
        FoundNode(e, "E", 1),  # by depth, then label and id
        FoundNode(v, "1.0.0", 1),
        FoundNode(t1, "T1", 1),
        FoundNode(t2, "T2", 1),
    ]
    assert edge_keys(out.edges) == {
        ekey("HAS_TAG", p, t1),
        ekey("HAS_TAG", p, t2),
        ekey("CONTAINS", p, e),
        ekey("HAS_VERSION", p, v),
    }
    assert {ekey(x.type, x.source, x.target): x.props for x in out.edges}[
        ekey("HAS_TAG", p, t2)
    ] == {"timestamp": 2}
    assert not out.truncated

    incoming = await store.neighbours(p, "in", None, 10)
    assert refs(incoming) == {p: 0, downstream: 1}
    assert edge_keys(incoming.edges) == {ekey("DERIVED_FROM", downstream, p)}

    both = await store.neighbours(p, "both", None, 10)
    assert refs(both) == {p: 0, t1: 1, t2: 1, e: 1, v: 1, downstream: 1}
    assert len(both.edges) == 5

    tags = await store.neighbours(p, "both", ["HAS_TAG"], 10)
    assert refs(tags) == {p: 0, t1: 1, t2: 1}
    lineage_only = await store.neighbours(p, "out", ["DERIVED_FROM"], 10)
    assert refs(lineage_only) == {p: 0}
    two_types = await store.neighbours(p, "both", ["CONTAINS", "DERIVED_FROM"], 10)
    assert refs(two_types) == {p: 0, e: 1, downstream: 1}
    assert refs(await store.neighbours(p, "both", [], 10)) == {p: 0}

    limited = await store.neighbours(p, "out", None, 2)
    assert limited.truncated
    assert len(limited.nodes) == 3  # the start and two neighbours
    assert set(refs(limited)) <= {p, t1, t2, e, v}
    assert all(x.source in refs(limited) and x.target in refs(limited) for x in limited.edges)
    exact = await store.neighbours(p, "out", None, 4)
    assert not exact.truncated
    assert len(exact.nodes) == 5

    # a tag's neighbours, from the other end
    assert refs(await store.neighbours(t1, "in", None, 10)) == {t1: 0, p: 1}
    assert refs(await store.neighbours(t1, "out", None, 10)) == {t1: 0}


async def lineage_chain(store: FalkorDBStore) -> tuple[NodeRef, NodeRef, NodeRef, NodeRef]:
    """p0 <- e1 <- e2 <- e3 (each derived from the one before), plus noise that is not
    lineage: a tag on e3 and a product containing e1."""
    p0, e1, e2, e3 = product("p0"), element("e1"), element("e2"), element("e3")
    noise_tag, container = tag("noise"), product("container")
    await store.upsert(
        [
            state(p0, name="P0"),
            state(e1, edge("DERIVED_FROM", e1, p0, relationship="copy"), name="E1"),
            state(e2, edge("DERIVED_FROM", e2, e1), name="E2"),
            state(e3, edge("DERIVED_FROM", e3, e2), edge("HAS_TAG", e3, noise_tag), name="E3"),
            state(noise_tag, name="noise"),
            state(container, edge("CONTAINS", container, e1), name="C"),
        ]
    )
    return p0, e1, e2, e3


async def test_lineage_upstream_downstream_and_both(store: FalkorDBStore) -> None:
    p0, e1, e2, e3 = await lineage_chain(store)

    upstream = await store.lineage(e3, "upstream", 10, 100)
    assert upstream.nodes == [
        FoundNode(e3, "E3", 0),
        FoundNode(e2, "E2", 1),
        FoundNode(e1, "E1", 2),
        FoundNode(p0, "P0", 3),
    ]
    assert edge_keys(upstream.edges) == {
        ekey("DERIVED_FROM", e3, e2),
        ekey("DERIVED_FROM", e2, e1),
        ekey("DERIVED_FROM", e1, p0),
    }
    assert not upstream.truncated
    assert {ekey(x.type, x.source, x.target): x.props for x in upstream.edges}[
        ekey("DERIVED_FROM", e1, p0)
    ] == {"relationship": "copy"}

    downstream = await store.lineage(p0, "downstream", 10, 100)
    assert refs(downstream) == {p0: 0, e1: 1, e2: 2, e3: 3}
    assert not downstream.truncated
    assert refs(await store.lineage(p0, "upstream", 10, 100)) == {p0: 0}

    both = await store.lineage(e2, "both", 10, 100)
    assert refs(both) == {e2: 0, e1: 1, p0: 2, e3: 1}
    assert len(both.edges) == 3
    assert not both.truncated


async def test_lineage_depth_and_size_bounds_truncate(store: FalkorDBStore) -> None:
    _p0, e1, e2, e3 = await lineage_chain(store)

    shallow = await store.lineage(e3, "upstream", 2, 100)
    assert refs(shallow) == {e3: 0, e2: 1, e1: 2}
    assert shallow.truncated  # p0 lies beyond
    assert edge_keys(shallow.edges) == {ekey("DERIVED_FROM", e3, e2), ekey("DERIVED_FROM", e2, e1)}

    exact = await store.lineage(e3, "upstream", 3, 100)
    assert not exact.truncated  # nothing beyond p0
    assert len(exact.nodes) == 4

    small = await store.lineage(e3, "upstream", 10, 2)
    assert refs(small) == {e3: 0, e2: 1}  # the start counts
    assert small.truncated
    assert edge_keys(small.edges) == {ekey("DERIVED_FROM", e3, e2)}

    fits = await store.lineage(e3, "upstream", 10, 4)
    assert not fits.truncated
    assert len(fits.nodes) == 4


async def test_lineage_terminates_on_cycles(store: FalkorDBStore) -> None:
    a, b, c, d = element("a"), element("b"), element("c"), product("d")
    await store.upsert(
        [
            state(a, edge("DERIVED_FROM", a, b), name="A"),
            state(b, edge("DERIVED_FROM", b, c), name="B"),
            state(c, edge("DERIVED_FROM", c, a), edge("DERIVED_FROM", c, d), name="C"),
            state(d, edge("DERIVED_FROM", d, d), name="D"),  # derived from itself
        ]
    )
    up = await asyncio.wait_for(store.lineage(a, "upstream", 50, 1000), 10)
    assert refs(up) == {a: 0, b: 1, c: 2, d: 3}
    assert not up.truncated  # a cycle back to a node already reached is not more
    assert len(up.edges) == 5
    down = await asyncio.wait_for(store.lineage(a, "downstream", 50, 1000), 10)
    assert refs(down) == {a: 0, c: 1, b: 2}
    around = await asyncio.wait_for(store.lineage(d, "both", 50, 1000), 10)
    assert refs(around) == {d: 0, c: 1, b: 2, a: 3}
    assert not around.truncated


async def test_path_is_shortest_in_either_direction_and_bounded(store: FalkorDBStore) -> None:
    p1, p2, p3 = product("p1"), product("p2"), product("p3")
    e1, t9, lone = element("e1"), tag("t9"), tag("lonely")
    await store.upsert(
        [
            # short way: p1 -> e1 <- p2 (two relationships, against each other)
            state(e1, name="E1"),
            state(p1, edge("CONTAINS", p1, e1), edge("DERIVED_FROM", p1, p3), name="P1"),
            state(p2, edge("CONTAINS", p2, e1), edge("HAS_TAG", p2, t9), name="P2"),
            # long way: p1 -> p3 -> t9 <- p2 (three)
            state(p3, edge("HAS_TAG", p3, t9), name="P3"),
            state(t9, name="T9"),
            state(lone, name="alone"),
        ]
    )
    found = await store.path(p1, p2, 4)
    assert found is not None
    assert found.nodes == [FoundNode(p1, "P1", 0), FoundNode(e1, "E1", 1), FoundNode(p2, "P2", 2)]
    assert [ekey(x.type, x.source, x.target) for x in found.edges] == [
        ekey("CONTAINS", p1, e1),
        ekey("CONTAINS", p2, e1),
    ]
    back = await store.path(p2, p1, 2)
    assert back is not None
    assert [n.ref for n in back.nodes] == [p2, e1, p1]

    assert await store.path(p1, p2, 1) is None  # longer than allowed
    assert await store.path(p1, lone, 10) is None  # not connected
    same = await store.path(p1, p1, 3)
    assert same is not None
    assert same.nodes == [FoundNode(p1, "P1", 0)]
    assert same.edges == []


async def test_path_of_odd_length_at_the_depth_bound(store: FalkorDBStore) -> None:
    p0, e1, e2, e3 = await lineage_chain(store)
    found = await store.path(e3, p0, 3)
    assert found is not None
    assert [n.ref for n in found.nodes] == [e3, e2, e1, p0]
    assert [n.depth for n in found.nodes] == [0, 1, 2, 3]
    assert [(x.source, x.target) for x in found.edges] == [(e3, e2), (e2, e1), (e1, p0)]
    assert await store.path(e3, p0, 2) is None
    back = await store.path(p0, e3, 3)
    assert back is not None
    assert [n.ref for n in back.nodes] == [p0, e1, e2, e3]


async def test_names_a_version_by_its_version(store: FalkorDBStore) -> None:
    p, v, t, e = product("p"), version("v"), tag("t"), element("e")
    await store.upsert(
        [
            state(p, edge("HAS_VERSION", p, v), edge("CONTAINS", p, e), name="Product"),
            state(v, version="2.1.0", name="not the version's name"),
            state(t, category="no name"),
        ]
    )
    assert await store.names([p, v, t, e, product("missing"), version("missing")]) == {
        p: "Product",
        v: "2.1.0",
        t: None,  # no name property
        e: None,  # a placeholder
    }
    assert await store.names([]) == {}
    reached = await store.neighbours(p, "out", ["HAS_VERSION"], 5)
    assert reached.nodes[1] == FoundNode(v, "2.1.0", 1)


# ---- indexes ----------------------------------------------------------------------------------

GUIDE_INDEXES = {
    ("DataElement", "identifier"),
    ("DataElement", "name"),
    ("DataProduct", "id"),
    ("Tag", "name"),
    ("Tag", "category"),
    ("HAS_TAG", "timestamp"),
    ("HAS_VERSION", "timestamp"),
}


async def test_ensure_indexes_creates_the_guides_indexes_once(store: FalkorDBStore) -> None:
    created = await store.ensure_indexes()
    present = await store.indexes()
    assert present >= GUIDE_INDEXES
    # and `id` on every label, where every MERGE and walk starts
    labels = ("DataElement", "DataElementConcept", "ValueDomain", "DataProduct", "Tag")
    assert {(name, "id") for name in (*labels, "DataProductVersion", "SchemaColumn")} <= present
    assert len(created) == len(present) == 13
    assert any("FOR ()-[r:HAS_TAG]-() ON (r.timestamp)" in text for text in created)

    assert await store.ensure_indexes() == []  # nothing missing, nothing run, no failure
    assert await store.indexes() == present


async def test_ensure_indexes_creates_only_what_is_missing(
    store: FalkorDBStore, falkordb_url: str, falkordb_graph: str
) -> None:
    # someone (another replica, an operator) made one already
    client = aioredis.Redis.from_url(falkordb_url, decode_responses=True)
    try:
        await AsyncGraph(client, falkordb_graph).query("CREATE INDEX FOR (t:Tag) ON (t.name)")
    finally:
        await client.aclose()
    created = await store.ensure_indexes()
    assert len(created) == 12
    assert not any("(n:Tag) ON (n.name)" in text for text in created)
    assert await store.indexes() >= GUIDE_INDEXES


async def test_indexes_leave_answers_unchanged(store: FalkorDBStore) -> None:
    p0, _e1, _e2, e3 = await lineage_chain(store)
    before = await store.lineage(e3, "upstream", 10, 100)
    await store.ensure_indexes()
    assert await store.lineage(e3, "upstream", 10, 100) == before
    assert await store.node(p0)


# ---- injection --------------------------------------------------------------------------------

HOSTILE = [
    "x'}) DETACH DELETE n //",
    '") MATCH (n) DETACH DELETE n //',
    '"}) MATCH (n) DETACH DELETE n RETURN 1 //',
    "'; MATCH (n) DETACH DELETE n; //",
    "back\\slash \\\" \\' \\n \\\\ \\",
    "\\",
    '"',
    "'",
    "{braces} {{double}} }) {",
    "line\nbreak\r\nand\ttab",
    "ünïcødé 数据 🚀 \u2028 \u00a0",
    "$param $ids0 $rows",
    "CYPHER rows=[] MATCH (n) DETACH DELETE n",
    "`backtick` ]->(x) <-[",
    "",
]


@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
async def test_hostile_text_is_inert_and_round_trips(
    store: FalkorDBStore, probe: Probe, text: str
) -> None:
    keeper, keeper_tag = product("keeper"), tag("keeper")
    await store.upsert(
        [state(keeper_tag, name="kept"), state(keeper, edge("HAS_TAG", keeper, keeper_tag))]
    )
    kept = await probe.snapshot()

    hostile, hostile_tag = element(text), tag(text)
    prop_name = text.replace("`", "'") or "k"  # a property name holds no backtick, is not empty
    await store.upsert(
        [
            state(
                hostile,
                edge("DERIVED_FROM", hostile, keeper, relationship=text),
                edge("HAS_TAG", hostile, hostile_tag, source=text, note=[text, text]),
                name=text,
                description=text,
                **{prop_name: text},
            ),
            state(hostile_tag, name=text),
        ]
    )
    nodes, edges = await probe.snapshot()
    assert nodes == {
        **kept[0],
        key(hostile): {"id": text, "name": text, "description": text, prop_name: text},
        key(hostile_tag): {"id": text, "name": text},
    }
    assert edges == {
        **kept[1],
        ekey("DERIVED_FROM", hostile, keeper): {"relationship": text},
        ekey("HAS_TAG", hostile, hostile_tag): {"source": text, "note": [text, text]},
    }

    # the reads take it as given too
    assert await store.node(hostile)
    assert await store.names([hostile, hostile_tag]) == {hostile: text, hostile_tag: text}
    around = await store.neighbours(hostile, "out", None, 10)
    assert refs(around) == {hostile: 0, keeper: 1, hostile_tag: 1}
    assert {x.props.get("relationship") for x in around.edges} == {text, None}
    assert refs(await store.lineage(keeper, "downstream", 3, 10)) == {keeper: 0, hostile: 1}
    path = await store.path(hostile, keeper_tag, 3)
    assert path is not None
    assert [n.ref for n in path.nodes] == [hostile, keeper, keeper_tag]

    # deleting it deletes it, and only it
    await store.delete([hostile])
    nodes, edges = await probe.snapshot()
    assert nodes == {**kept[0], key(hostile_tag): {"id": text, "name": text}}
    assert edges == kept[1]
    await store.upsert([gone(hostile_tag)])
    assert await probe.snapshot() == kept


def forbid_queries(store: FalkorDBStore, monkeypatch: pytest.MonkeyPatch) -> None:
    async def no_query(statements: Sequence[Statement], write: bool) -> list[Any]:
        raise AssertionError(f"a query ran: {[s.text for s in statements]}")

    monkeypatch.setattr(store, "_execute", no_query)


EVIL_LABEL = cast(Label, "Tag) DETACH DELETE n //")
EVIL_TYPE = cast(RelType, "HAS_TAG]->() DETACH DELETE n //")
EVIL = NodeRef(EVIL_LABEL, "x")
GOOD = product("p")

CALLS: dict[str, Callable[[FalkorDBStore], Awaitable[object]]] = {
    "upsert node": lambda s: s.upsert([state(EVIL, name="x")]),
    "upsert deleted node": lambda s: s.upsert([gone(EVIL)]),
    "upsert edge target": lambda s: s.upsert([state(GOOD, edge("HAS_TAG", GOOD, EVIL))]),
    "upsert edge type": lambda s: s.upsert([state(GOOD, edge(EVIL_TYPE, GOOD, tag("t")))]),
    "delete": lambda s: s.delete([GOOD, EVIL]),
    "node": lambda s: s.node(EVIL),
    "names": lambda s: s.names([GOOD, EVIL]),
    "neighbours": lambda s: s.neighbours(EVIL, "both", None, 5),
    "neighbours type": lambda s: s.neighbours(GOOD, "out", [EVIL_TYPE], 5),
    "lineage": lambda s: s.lineage(EVIL, "both", 3, 5),
    "path": lambda s: s.path(GOOD, EVIL, 3),
    "step": lambda s: s.step([GOOD], ["HAS_TAG", EVIL_TYPE], "out"),
}


@pytest.mark.parametrize("call", CALLS.values(), ids=CALLS.keys())
async def test_a_label_or_type_outside_the_model_fails_before_any_query(
    store: FalkorDBStore,
    monkeypatch: pytest.MonkeyPatch,
    call: Callable[[FalkorDBStore], Awaitable[object]],
) -> None:
    forbid_queries(store, monkeypatch)
    with pytest.raises(ValueError, match=r"unknown (node label|relationship type)"):
        await call(store)


# ---- outages ----------------------------------------------------------------------------------


async def expect_unavailable(call: Awaitable[object], *, at_least: float = 0.0) -> float:
    started = time.monotonic()
    with pytest.raises(GraphUnavailable) as raised:
        await call
    elapsed = time.monotonic() - started
    assert isinstance(raised.value, ConnectionError)  # transient for core/retry.py
    assert not isinstance(raised.value, redis.exceptions.RedisError)
    assert at_least <= elapsed < TIMEOUT_S + 1.5, f"took {elapsed:.2f}s"
    return elapsed


async def test_a_stopped_server_is_unavailable_and_the_store_recovers(
    store: FalkorDBStore, falkordb_server: FalkorDBServer, probe: Probe
) -> None:
    p, t = product("p"), tag("t")
    await store.upsert([state(p, edge("HAS_TAG", p, t), name="P")])
    await asyncio.gather(*(store.node(p) for _ in range(MAX_CONNECTIONS * 2)))  # fill the pool

    falkordb_server.stop()
    await expect_unavailable(store.node(p))
    await expect_unavailable(store.upsert([state(t, name="T")]))
    await expect_unavailable(store.neighbours(p, "both", None, 5))
    await expect_unavailable(store.lineage(p, "both", 3, 5))
    await expect_unavailable(store.path(p, t, 3))
    await expect_unavailable(store.names([p]))
    await expect_unavailable(store.delete([p]))
    await expect_unavailable(store.ensure_indexes())
    await expect_unavailable(store.clear())
    await expect_unavailable(store.ping())

    falkordb_server.start()  # same port, same data (its append-only file)
    await store.ping()
    assert await store.node(p)
    assert not await store.node(t)  # the upsert during the outage never happened
    await store.upsert([state(t, name="T"), state(p, edge("HAS_TAG", p, t), name="P")])
    assert await store.node(p)
    assert refs(await store.neighbours(p, "out", None, 5)) == {p: 0, t: 1}
    assert len(await probe.nodes()) == 2
    results = await asyncio.gather(*(store.node(p) for _ in range(MAX_CONNECTIONS * 3)))
    assert all(results)


async def test_a_hung_server_times_out_and_answers_stay_in_step_after(
    store: FalkorDBStore, falkordb_server: FalkorDBServer
) -> None:
    p, t, missing = product("p"), tag("t"), product("missing")
    await store.upsert([state(t, name="T"), state(p, edge("HAS_TAG", p, t), name="P")])
    await asyncio.gather(*(store.node(p) for _ in range(MAX_CONNECTIONS)))

    falkordb_server.pause()
    try:
        await expect_unavailable(store.node(p), at_least=TIMEOUT_S * 0.9)
        await expect_unavailable(store.upsert([state(t, name="T2")]), at_least=TIMEOUT_S * 0.9)
        started = time.monotonic()
        results = await asyncio.gather(
            *(store.names([p]) for _ in range(MAX_CONNECTIONS * 2)), return_exceptions=True
        )
        assert all(isinstance(r, GraphUnavailable) for r in results), results
        assert time.monotonic() - started < TIMEOUT_S + 1.5  # waiting for a connection counts
    finally:
        falkordb_server.resume()

    # No reply meant for a call that gave up is read by a later one: each answer is its own.
    for _ in range(3):
        assert await store.node(p)
        assert not await store.node(missing)
        # the write that timed out may still have run once the server woke up
        assert await store.names([t]) in ({t: "T"}, {t: "T2"})
        assert refs(await store.neighbours(p, "out", None, 5)) == {p: 0, t: 1}
    answers = await asyncio.gather(
        *(store.node(ref) for ref in [p, missing] * (MAX_CONNECTIONS * 2))
    )
    assert answers == [True, False] * (MAX_CONNECTIONS * 2)


# ---- metrics ----------------------------------------------------------------------------------


async def test_queries_are_measured_by_type_and_status(
    store: FalkorDBStore, falkordb_server: FalkorDBServer
) -> None:
    before = {
        (kind, status): queries(kind, status)
        for kind in ("upsert", "step", "names", "node", "ensure_indexes")
        for status in ("ok", "error")
    }
    p, t = product("p"), tag("t")
    await store.upsert([state(p, edge("HAS_TAG", p, t), name="P")])
    await store.neighbours(p, "out", None, 5)  # one step, one names
    await store.node(p)

    def delta(kind: str, status: str) -> float:
        return queries(kind, status) - before[(kind, status)]

    assert delta("upsert", "ok") == 1  # one measurement per call, however many statements
    assert delta("step", "ok") == 1
    assert delta("names", "ok") == 1
    assert delta("node", "ok") == 1
    assert delta("node", "error") == 0
    pool = {
        state_: count("catalog_neo4j_connection_pool_size", state=state_)
        for state_ in ("max", "in_use", "idle")
    }
    assert pool["max"] == MAX_CONNECTIONS
    assert pool["in_use"] == 0
    assert 1 <= pool["idle"] <= MAX_CONNECTIONS

    falkordb_server.stop()
    try:
        with pytest.raises(GraphUnavailable):
            await store.node(p)
        with pytest.raises(GraphUnavailable):
            await store.upsert([state(p, name="P")])
    finally:
        falkordb_server.start()
    assert delta("node", "error") == 1
    assert delta("upsert", "error") == 1
    assert delta("node", "ok") == 1
    assert count("catalog_neo4j_connection_pool_size", state="max") == MAX_CONNECTIONS
    buckets = count(
        "catalog_neo4j_query_duration_seconds_bucket",
        query_type="node",
        status="error",
        le="+Inf",
    )
    assert buckets >= 1

    await store.ensure_indexes()
    assert delta("ensure_indexes", "ok") == 13
