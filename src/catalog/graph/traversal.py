"""Bounded breadth-first walks, one query per level, shared by the adapters.

A store provides `step(frontier, types, direction)`: the relationships of the given types
leaving (`out`), entering (`in`) or touching (`both`) any node of the frontier; and
`names(refs)`. The walks here do the bookkeeping: shortest distance per node, cycle safety,
the depth and node limits, and `truncated` when something lay beyond them. One query per level
keeps the cost proportional to what is returned (a variable-length Cypher pattern or a
path-enumerating CTE can explode on dense graphs), and the same code gives every store the same
answers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from catalog.graph.model import (
    Direction,
    Edge,
    FoundNode,
    GraphPath,
    LineageDirection,
    NodeRef,
    RelType,
    Subgraph,
)

Step = Callable[[Sequence[NodeRef], Sequence[RelType] | None, Direction], Awaitable[list[Edge]]]
Names = Callable[[Sequence[NodeRef]], Awaitable[dict[NodeRef, str | None]]]

# upstream = what a node derives from = its outgoing DERIVED_FROM relationships
LINEAGE_WAYS: dict[str, Direction] = {"upstream": "out", "downstream": "in"}


def far_end(edge: Edge, near: NodeRef) -> NodeRef:
    return edge.target if edge.source == near else edge.source


def _far_ends(edge: Edge, direction: Direction, frontier: set[NodeRef]) -> list[NodeRef]:
    if direction == "out":
        return [edge.target]
    if direction == "in":
        return [edge.source]
    return [end for end in (edge.source, edge.target) if end not in frontier] or [edge.target]


async def walk(
    step: Step,
    names: Names,
    start: NodeRef,
    types: Sequence[RelType] | None,
    directions: Sequence[Direction],
    depth: int,
    max_nodes: int,
    *,
    beyond: bool = True,
) -> Subgraph:
    """`beyond`: also look one level past `depth` and report `truncated` when an unreached
    node lies there (lineage: yes; neighbours, whose depth 1 is the question: no)."""
    depths: dict[NodeRef, int] = {start: 0}
    edges: dict[tuple[str, NodeRef, NodeRef], Edge] = {}
    truncated = False
    for direction in directions:
        frontier = {start}
        for level in range(1, depth + 1):
            if not frontier:
                break
            found = await step(sorted(frontier), types, direction)
            next_frontier: set[NodeRef] = set()
            for edge in found:
                for far in _far_ends(edge, direction, frontier):
                    if far not in depths:
                        if len(depths) >= max_nodes:  # the start node counts
                            truncated = True
                            continue
                        depths[far] = level
                        next_frontier.add(far)
                edges[(edge.type, edge.source, edge.target)] = edge
            frontier = next_frontier
        if beyond and frontier and not truncated:
            # more lies beyond the depth asked for (a cycle back to a reached node is not more)
            past = await step(sorted(frontier), types, direction)
            if any(far not in depths for e in past for far in _far_ends(e, direction, frontier)):
                truncated = True
    found_names = await names(sorted(depths))
    nodes = [
        FoundNode(ref, found_names.get(ref), d)
        for ref, d in sorted(depths.items(), key=lambda item: (item[1], item[0]))
    ]
    kept = [e for e in edges.values() if e.source in depths and e.target in depths]
    return Subgraph(nodes, sorted(kept, key=edge_key), truncated)


async def neighbour_walk(
    step: Step,
    names: Names,
    start: NodeRef,
    direction: Direction,
    types: Sequence[RelType] | None,
    limit: int,
) -> Subgraph:
    """Depth 1, at most `limit` nodes besides `start`; `both` takes outgoing before incoming."""
    directions: list[Direction] = ["out", "in"] if direction == "both" else [direction]
    return await walk(step, names, start, types, directions, 1, limit + 1, beyond=False)


async def lineage_walk(
    step: Step,
    names: Names,
    start: NodeRef,
    direction: LineageDirection,
    depth: int,
    max_nodes: int,
) -> Subgraph:
    ways = ["upstream", "downstream"] if direction == "both" else [direction]
    return await walk(
        step, names, start, ["DERIVED_FROM"], [LINEAGE_WAYS[w] for w in ways], depth, max_nodes
    )


async def shortest_path(
    step: Step, names: Names, source: NodeRef, target: NodeRef, max_depth: int
) -> GraphPath | None:
    """Breadth-first from both ends at once (each side at most half the depth), over every
    relationship in either direction."""
    if source == target:
        return GraphPath([FoundNode(source, (await names([source])).get(source), 0)], [])
    parents: list[dict[NodeRef, tuple[NodeRef, Edge] | None]] = [{source: None}, {target: None}]
    frontiers = [{source}, {target}]
    for _ in range(max_depth):
        side = 0 if len(frontiers[0]) <= len(frontiers[1]) else 1
        if not frontiers[side]:
            return None
        seen, other = parents[side], parents[1 - side]
        next_frontier: set[NodeRef] = set()
        meeting: NodeRef | None = None
        for edge in await step(sorted(frontiers[side]), None, "both"):
            for near in (edge.source, edge.target):
                if near not in frontiers[side]:
                    continue
                far = far_end(edge, near)
                if far in seen:
                    continue
                seen[far] = (near, edge)
                next_frontier.add(far)
                if far in other and meeting is None:
                    meeting = far
        if meeting is not None:
            return await _join(names, parents, meeting)
        frontiers[side] = next_frontier
    return None


async def _join(
    names: Names, parents: list[dict[NodeRef, tuple[NodeRef, Edge] | None]], meeting: NodeRef
) -> GraphPath:
    refs: list[NodeRef] = [meeting]
    edges: list[Edge] = []
    node = meeting
    while (link := parents[0][node]) is not None:
        node, edge = link
        refs.insert(0, node)
        edges.insert(0, edge)
    node = meeting
    while (link := parents[1][node]) is not None:
        node, edge = link
        refs.append(node)
        edges.append(edge)
    found = await names(refs)
    return GraphPath([FoundNode(ref, found.get(ref), i) for i, ref in enumerate(refs)], edges)


def edge_key(edge: Edge) -> tuple[str, NodeRef, NodeRef]:
    """The order edges are listed in, and their identity (type, source, target)."""
    return (edge.type, edge.source, edge.target)
