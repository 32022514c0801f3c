"""The `sql` graph store: the catalog's own tables, read as a graph. The default.

Nothing is projected: the relationships are the rows (the `graph_edges` view of migrations
0006 and 0012 shows them all as type/source/target, schema columns and their column lineage
included), so answers are always current and the store's writes do nothing. Lineage is one
recursive CTE per direction over `lineage_edges`; neighbours are one query on the view;
shortest paths walk the view from both ends, one query per level (graph/traversal.py),
because a recursive CTE enumerating paths grows with the number of paths, not nodes.

What it gives up against a graph database: traversals are joins, so deep or wide walks
(depth 10 over hub nodes such as popular tags) cost more than a native graph's pointer hops;
the bench/ README has the numbers.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, column, or_, select, table, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from catalog.changes.refs import NODE_MODELS
from catalog.db.models import LineageEdge
from catalog.graph.model import (
    LINEAGE_KINDS,
    LINEAGE_LABELS,
    Direction,
    Edge,
    FoundNode,
    GraphPath,
    Label,
    LineageDirection,
    NodeRef,
    NodeState,
    RelType,
    Subgraph,
    lineage_props,
)
from catalog.graph.repository import NAME_COLUMNS
from catalog.graph.traversal import edge_key, neighbour_walk, shortest_path

EDGES = table(
    "graph_edges",
    column("type"),
    column("source_label"),
    column("source_id"),
    column("target_label"),
    column("target_id"),
    column("relationship"),
    column("transformation"),
    column("job"),
)

# upstream: what the node derives from (lineage_edges rows where it is downstream).
# Both terms cast to plain VARCHAR: PostgreSQL wants one column type across the recursion.
LINEAGE_CTE = """
WITH RECURSIVE walk(kind, id, depth) AS (
    SELECT CAST(:kind AS VARCHAR), CAST(:id AS VARCHAR), 0
    UNION
    SELECT CAST(e.{far}_type AS VARCHAR), CAST(e.{far}_id AS VARCHAR), w.depth + 1
      FROM walk w
      JOIN lineage_edges e ON e.{near}_type = w.kind AND e.{near}_id = w.id
     WHERE w.depth < :depth
)
SELECT kind, id, MIN(depth) AS depth FROM walk GROUP BY kind, id ORDER BY 3, 1, 2 LIMIT :limit
"""
ENDS = {"upstream": ("downstream", "upstream"), "downstream": ("upstream", "downstream")}


class SqlGraphStore:
    name = "sql"
    projected = False

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    # --- writes: the catalog tables are the graph --------------------------------------------

    async def upsert(self, states: Sequence[NodeState]) -> None:
        return None

    async def delete(self, refs: Sequence[NodeRef]) -> None:
        return None

    async def clear(self) -> None:
        return None

    async def ensure_indexes(self) -> list[str]:
        return []  # migrations create every index the walks use

    async def ping(self) -> None:
        async with self._sessions() as session:
            await session.execute(text("SELECT 1"))

    async def close(self) -> None:
        return None

    # --- reads -------------------------------------------------------------------------------

    async def neighbours(
        self, ref: NodeRef, direction: Direction, types: Sequence[RelType] | None, limit: int
    ) -> Subgraph:
        return await neighbour_walk(self.step, self.names, ref, direction, types, limit)

    async def lineage(
        self, ref: NodeRef, direction: LineageDirection, depth: int, max_nodes: int
    ) -> Subgraph:
        depths: dict[NodeRef, int] = {ref: 0}
        truncated = False
        edges: list[Edge] = []
        async with self._sessions() as session:
            for way in ["upstream", "downstream"] if direction == "both" else [direction]:
                this_way: dict[NodeRef, int] = {ref: 0}
                for node, level in await self._reachable(session, ref, way, depth, max_nodes):
                    if node in depths:
                        continue
                    if len(depths) >= max_nodes:
                        truncated = True
                        continue
                    depths[node] = this_way[node] = level
                near = {n: d for n, d in this_way.items() if d < depth}
                edges += await self._lineage_edges(session, way, near, depths)
                deepest = {n: d for n, d in this_way.items() if d == depth}
                if deepest and await self._lineage_edges(session, way, deepest):
                    truncated = True  # more lies beyond the depth asked for
            names = await self._names(session, sorted(depths))
        nodes = [
            FoundNode(node, names.get(node), d)
            for node, d in sorted(depths.items(), key=lambda item: (item[1], item[0]))
        ]
        unique = {edge_key(e): e for e in edges}
        return Subgraph(nodes, sorted(unique.values(), key=edge_key), truncated)

    async def path(self, source: NodeRef, target: NodeRef, max_depth: int) -> GraphPath | None:
        return await shortest_path(self.step, self.names, source, target, max_depth)

    # --- primitives for traversal.py ---------------------------------------------------------

    async def step(
        self, frontier: Sequence[NodeRef], types: Sequence[RelType] | None, direction: Direction
    ) -> list[Edge]:
        by_label: dict[str, list[str]] = defaultdict(list)
        for ref in frontier:
            by_label[ref.label].append(ref.id)
        # `label = constant AND id IN (…)` per label, not a tuple IN: the planner can then
        # drop the view's branches of other labels and use the id indexes of the others.
        outgoing = or_(
            *(
                and_(EDGES.c.source_label == label, EDGES.c.source_id.in_(ids))
                for label, ids in sorted(by_label.items())
            )
        )
        incoming = or_(
            *(
                and_(EDGES.c.target_label == label, EDGES.c.target_id.in_(ids))
                for label, ids in sorted(by_label.items())
            )
        )
        where = {"out": outgoing, "in": incoming, "both": or_(outgoing, incoming)}[direction]
        query = select(EDGES).where(where)
        if types is not None:
            query = query.where(EDGES.c.type.in_(list(types)))
        async with self._sessions() as session:
            rows = (await session.execute(query)).all()
        return [_edge(row) for row in rows]

    async def names(self, refs: Sequence[NodeRef]) -> dict[NodeRef, str | None]:
        async with self._sessions() as session:
            return await self._names(session, refs)

    # --- helpers -----------------------------------------------------------------------------

    async def _names(
        self, session: AsyncSession, refs: Sequence[NodeRef]
    ) -> dict[NodeRef, str | None]:
        by_label: dict[Label, list[str]] = defaultdict(list)
        for ref in refs:
            by_label[ref.label].append(ref.id)
        found: dict[NodeRef, str | None] = {}
        for label, ids in by_label.items():
            model = NODE_MODELS[label]
            name = getattr(model, NAME_COLUMNS[label])
            rows = await session.execute(select(model.id, name).where(model.id.in_(ids)))
            found.update({NodeRef(label, row[0]): row[1] for row in rows})
        return found

    async def _reachable(
        self, session: AsyncSession, start: NodeRef, way: str, depth: int, max_nodes: int
    ) -> list[tuple[NodeRef, int]]:
        near, far = ENDS[way]
        statement = text(LINEAGE_CTE.format(near=near, far=far))
        params = {
            "kind": LINEAGE_KINDS[start.label],
            "id": start.id,
            "depth": depth,
            "limit": max_nodes + 1,
        }
        rows = await session.execute(statement, params)
        return [(NodeRef(LINEAGE_LABELS[row.kind], row.id), row.depth) for row in rows if row.depth]

    async def _lineage_edges(
        self,
        session: AsyncSession,
        way: str,
        near_nodes: dict[NodeRef, int],
        far_nodes: dict[NodeRef, int] | None = None,
    ) -> list[Edge]:
        """DERIVED_FROM edges leaving `near_nodes` in direction `way` (and, when given,
        arriving in `far_nodes`). Read from `lineage_edges` itself, one `kind = … AND id IN
        (…)` per kind, so its indexes serve it (through the view, the label is a CASE no
        index can use: ~20x slower at depth 10 on PostgreSQL, bench/README.md)."""
        near, _far = ENDS[way]
        near_kind, near_id = (
            getattr(LineageEdge, f"{near}_type"),
            getattr(LineageEdge, f"{near}_id"),
        )
        by_kind: dict[str, list[str]] = defaultdict(list)
        for node in near_nodes:
            by_kind[LINEAGE_KINDS[node.label]].append(node.id)
        edges: list[Edge] = []
        for kind, ids in sorted(by_kind.items()):
            for chunk in _chunks(sorted(ids)):
                rows = await session.scalars(
                    select(LineageEdge).where(near_kind == kind, near_id.in_(chunk))
                )
                edges += [_derived_from(row) for row in rows]
        if far_nodes is None:
            return edges
        return [e for e in edges if (e.target if way == "upstream" else e.source) in far_nodes]


def _derived_from(row: LineageEdge) -> Edge:
    """The downstream node derives from the upstream one."""
    return Edge(
        "DERIVED_FROM",
        NodeRef(LINEAGE_LABELS[row.downstream_type], row.downstream_id),
        NodeRef(LINEAGE_LABELS[row.upstream_type], row.upstream_id),
        lineage_props(row),
    )


def _chunks(ids: list[str], size: int = 500) -> list[list[str]]:
    """Bounded IN lists (SQLite allows ~32k parameters, PostgreSQL 65k)."""
    return [ids[i : i + size] for i in range(0, len(ids), size)]


def _edge(row: Any) -> Edge:
    """A view row as an edge; a DERIVED_FROM edge carries the properties the Cypher stores
    hold (`lineage_props`: relationship and job, or for columns `column_lineage_props`:
    transformation and job; absent rather than null)."""
    props: dict[str, Any] = {}
    if row.type == "DERIVED_FROM":
        for key in ("relationship", "transformation", "job"):
            value = getattr(row, key)
            if value is not None and (value or key != "job"):
                props[key] = value
    return Edge(
        row.type,
        NodeRef(row.source_label, row.source_id),
        NodeRef(row.target_label, row.target_id),
        props,
    )
