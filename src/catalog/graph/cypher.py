"""The Cypher text of the two Cypher stores (Neo4j, FalkorDB), as data: statements + parameters.

Every value travels as a parameter. Labels and relationship types cannot be parameters in
Cypher, so they are interpolated, and only through `label()` / `rel_type()`, which let through
nothing but the closed sets of model.py (and raise before any query is built otherwise).

Placeholders: an edge whose target was never upserted MERGEs the target as a node marked
`_placeholder` (so the order in which nodes arrive does not matter); the target's own upsert
replaces every property (`SET n = props`), which removes the mark. A placeholder is reachable
through edges (with no name) but is not a node of its own: `node()` says it does not exist.
A node deleted later takes its relationships with it (DETACH DELETE), incoming ones included.

Where the dialects differ, the store module says so; the text here runs on both.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from catalog.graph.model import LABELS, REL_TYPES, Direction, Edge, NodeRef, NodeState, RelType

PLACEHOLDER = "_placeholder"
INT64 = 2**63


@dataclass(frozen=True)
class Statement:
    text: str
    params: dict[str, Any] = field(default_factory=dict)


def label(value: str) -> str:
    """The only way a label reaches Cypher text."""
    if value not in LABELS:
        raise ValueError(f"unknown node label {value!r}")
    return value


def rel_type(value: str) -> str:
    """The only way a relationship type reaches Cypher text."""
    if value not in REL_TYPES:
        raise ValueError(f"unknown relationship type {value!r}")
    return value


def plain(value: Any) -> Any:
    """A property value both databases store as given: null, bool, int64, finite float, str,
    or a list of those. Anything else is refused here rather than coerced differently by each
    driver (FalkorDB's client would write a datetime's str() into the query text)."""
    if isinstance(value, str) and "\x00" in value:
        # FalkorDB cuts its query text at NUL (the client inlines parameters there)
        raise ValueError("a string property holds no NUL character")
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        if not -INT64 <= value < INT64:
            raise ValueError(f"integer property out of int64 range: {value}")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"non-finite float property: {value}")
        return value
    if isinstance(value, list | tuple):
        if any(v is None or isinstance(v, list | tuple | dict) for v in value):
            raise ValueError("a list property holds scalars only (no null, list or map)")
        return [plain(v) for v in value]
    raise ValueError(f"unsupported property value of type {type(value).__name__}")


def checked_props(props: dict[str, Any]) -> dict[str, Any]:
    checked: dict[str, Any] = {}
    for key, value in props.items():
        if not isinstance(key, str) or not key or "`" in key or key == PLACEHOLDER:
            raise ValueError(f"unusable property name {key!r}")
        checked[key] = plain(value)
    return checked


# ---- writes ---------------------------------------------------------------------------------


def upsert_statements(states: Sequence[NodeState]) -> list[Statement]:
    """Statements that make the graph hold `states`, in order.

    A ref named twice keeps only its last state. The batch is cut into runs of upserts and of
    deletes (in their order), because an upsert whose edge names a node and a delete of that
    node give different graphs in different orders; inside a run the order does not matter,
    so each run is a few statements grouped by label / relationship shape.
    """
    last = {state.ref: index for index, state in enumerate(states)}
    kept = [state for index, state in enumerate(states) if last[state.ref] == index]
    statements: list[Statement] = []
    run: list[NodeState] = []
    for state in kept:
        if run and (run[-1].props is None) != (state.props is None):
            statements += _run_statements(run)
            run = []
        run.append(state)
    if run:
        statements += _run_statements(run)
    return statements


def _run_statements(run: list[NodeState]) -> list[Statement]:
    if run[0].props is None:
        return delete_statements([state.ref for state in run])
    rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
    edges: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for state in run:
        assert state.props is not None
        rows[label(state.ref.label)].append(
            {"id": state.ref.id, "props": {**checked_props(state.props), "id": state.ref.id}}
        )
        for edge in state.edges:
            if edge.source != state.ref:
                raise ValueError(f"edge {edge.type} of {state.ref} starts at {edge.source}")
            shape = (rel_type(edge.type), label(edge.source.label), label(edge.target.label))
            edges[shape].append(
                {
                    "source": edge.source.id,
                    "target": edge.target.id,
                    "props": checked_props(edge.props),
                }
            )
    statements = [
        Statement(
            f"UNWIND $rows AS row MERGE (n:{name} {{id: row.id}}) SET n = row.props",
            {"rows": batch},
        )
        for name, batch in sorted(rows.items())
    ]
    # Outgoing relationships are replaced: the old ones go, the state's ones are merged.
    statements += [
        Statement(
            f"UNWIND $ids AS id MATCH (a:{name} {{id: id}})-[r]->() DELETE r",
            {"ids": [row["id"] for row in batch]},
        )
        for name, batch in sorted(rows.items())
    ]
    statements += [
        Statement(
            f"UNWIND $edges AS e MATCH (a:{source} {{id: e.source}}) "
            f"MERGE (b:{target} {{id: e.target}}) ON CREATE SET b.{PLACEHOLDER} = true "
            f"MERGE (a)-[r:{kind}]->(b) SET r = e.props",
            {"edges": batch},
        )
        for (kind, source, target), batch in sorted(edges.items())
    ]
    return statements


def delete_statements(refs: Iterable[NodeRef]) -> list[Statement]:
    return [
        Statement(f"UNWIND $ids AS id MATCH (n:{name} {{id: id}}) DETACH DELETE n", {"ids": ids})
        for name, ids in _ids_by_label(refs)
    ]


def clear_statement(batch: int) -> Statement:
    """One slice of a full wipe (repeat until it deletes nothing): a single DETACH DELETE of
    everything would build one huge transaction. Indexes stay."""
    return Statement(
        "MATCH (n) WITH n LIMIT $batch DETACH DELETE n RETURN count(*)", {"batch": batch}
    )


# ---- indexes --------------------------------------------------------------------------------

# The guide's indexes, plus `id` on every label: every MERGE and every walk starts there.
NODE_INDEXES: tuple[tuple[str, str], ...] = (
    ("DataElement", "identifier"),
    ("DataElement", "name"),
    ("Tag", "name"),
    ("Tag", "category"),
    *((name, "id") for name in LABELS),  # DataProduct(id) is the guide's
)
RELATIONSHIP_INDEXES: tuple[tuple[str, str], ...] = (
    ("HAS_TAG", "timestamp"),
    ("HAS_VERSION", "timestamp"),
)


def neo4j_index_statements() -> list[str]:
    """Neo4j 5 syntax; IF NOT EXISTS makes a repeat (same name or same schema) a no-op."""
    nodes = [
        f"CREATE INDEX catalog_{label(name).lower()}_{prop} IF NOT EXISTS "
        f"FOR (n:{label(name)}) ON (n.{prop})"
        for name, prop in NODE_INDEXES
    ]
    relationships = [
        f"CREATE INDEX catalog_{rel_type(kind).lower()}_{prop} IF NOT EXISTS "
        f"FOR ()-[r:{rel_type(kind)}]-() ON (r.{prop})"
        for kind, prop in RELATIONSHIP_INDEXES
    ]
    return nodes + relationships


def falkordb_index_statements(existing: set[tuple[str, str]]) -> list[str]:
    """FalkorDB has no IF NOT EXISTS (a repeat fails with "already indexed") and no index
    names: the statements for the (label or type, property) pairs not in `existing`."""
    nodes = [
        f"CREATE INDEX FOR (n:{label(name)}) ON (n.{prop})"
        for name, prop in NODE_INDEXES
        if (name, prop) not in existing
    ]
    relationships = [
        f"CREATE INDEX FOR ()-[r:{rel_type(kind)}]-() ON (r.{prop})"
        for kind, prop in RELATIONSHIP_INDEXES
        if (kind, prop) not in existing
    ]
    return nodes + relationships


# ---- reads ----------------------------------------------------------------------------------

EDGE_COLUMNS = (
    "labels({s})[0] AS sl, {s}.id AS si, type(r) AS t, labels({t})[0] AS tl, {t}.id AS ti"
)


def node_statement(ref: NodeRef) -> Statement:
    return Statement(
        f"MATCH (n:{label(ref.label)} {{id: $id}}) WHERE n.{PLACEHOLDER} IS NULL "
        "RETURN count(n) > 0",
        {"id": ref.id},
    )


def step_statement(
    frontier: Sequence[NodeRef], types: Sequence[RelType] | None, direction: Direction
) -> Statement | None:
    """The relationships of `types` leaving / entering / touching the frontier, one row each:
    source label, source id, type, target label, target id, properties. One round trip: a
    branch per label (so every match starts from the label's id index), joined by UNION ALL.
    None when nothing can match (an empty frontier or type list)."""
    if not frontier or (types is not None and not types):
        return None
    pattern = "[r]" if types is None else "[r:" + "|".join(rel_type(t) for t in types) + "]"
    ways = ["out", "in"] if direction == "both" else [direction]
    branches: list[str] = []
    params: dict[str, Any] = {}
    for index, (name, ids) in enumerate(_ids_by_label(frontier)):
        params[f"ids{index}"] = ids
        for way in ways:
            arrow = f"-{pattern}->" if way == "out" else f"<-{pattern}-"
            ends = {"s": "a", "t": "b"} if way == "out" else {"s": "b", "t": "a"}
            branches.append(
                f"UNWIND $ids{index} AS id MATCH (a:{name} {{id: id}}){arrow}(b) "
                f"RETURN {EDGE_COLUMNS.format(**ends)}, properties(r) AS p"
            )
    return Statement(" UNION ALL ".join(branches), params)


# The property naming each kind of node in answers (as the sql store: versions by number).
NAME_PROPERTY: dict[str, str] = {"DataProductVersion": "version"}


def names_statement(refs: Sequence[NodeRef]) -> Statement | None:
    branches: list[str] = []
    params: dict[str, Any] = {}
    for index, (name, ids) in enumerate(_ids_by_label(refs)):
        params[f"ids{index}"] = ids
        branches.append(
            f"UNWIND $ids{index} AS id MATCH (n:{name} {{id: id}}) "
            f"RETURN labels(n)[0] AS label, n.id AS id, n.{NAME_PROPERTY.get(name, 'name')} AS name"
        )
    return Statement(" UNION ALL ".join(branches), params) if branches else None


def edge_of(row: Sequence[Any]) -> Edge | None:
    """An Edge from a `step_statement` row; None for a label or type outside the model (data
    written by someone else), which the walks then never see."""
    source_label, source_id, kind, target_label, target_id, props = row
    if source_label not in LABELS or target_label not in LABELS or kind not in REL_TYPES:
        return None
    return Edge(
        kind, NodeRef(source_label, source_id), NodeRef(target_label, target_id), dict(props)
    )


def _ids_by_label(refs: Iterable[NodeRef]) -> list[tuple[str, list[str]]]:
    grouped: dict[str, set[str]] = defaultdict(set)
    for ref in refs:
        grouped[label(ref.label)].add(ref.id)
    return [(name, sorted(ids)) for name, ids in sorted(grouped.items())]
