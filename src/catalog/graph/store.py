"""The GraphStore protocol: the narrow surface every graph backend offers.

Three adapters: `sql` (default: reads the catalog's own tables with recursive CTEs, so it has
nothing to project), `neo4j` and `falkordb` (Cypher; fed from the transactional outbox by
graph/worker.py). One contract suite (tests/graph/) runs against each.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from catalog.graph.model import (
    Direction,
    GraphPath,
    LineageDirection,
    NodeRef,
    NodeState,
    RelType,
    Subgraph,
)


class GraphUnavailable(ConnectionError):
    """The graph database cannot answer (down, timed out, or its breaker is open). A
    ConnectionError, so core/retry.py treats it as transient."""


class GraphStore(Protocol):
    name: str
    # True when the store holds its own copy that catalog writes must be projected into
    # (through the outbox); False for `sql`, which reads the catalog tables themselves.
    projected: bool

    async def upsert(self, states: Sequence[NodeState]) -> None:
        """Make each node hold exactly `props` and exactly its `edges` as outgoing
        relationships (MERGE: applying the same state twice changes nothing). A state with
        `props=None` deletes the node and every relationship touching it."""
        ...

    async def delete(self, refs: Sequence[NodeRef]) -> None: ...

    async def names(self, refs: Sequence[NodeRef]) -> dict[NodeRef, str | None]:
        """Each node's display name (a version's is its version string)."""
        ...

    async def neighbours(
        self, ref: NodeRef, direction: Direction, types: Sequence[RelType] | None, limit: int
    ) -> Subgraph:
        """The nodes one relationship away (depth 1), at most `limit` (then `truncated`)."""
        ...

    async def lineage(
        self, ref: NodeRef, direction: LineageDirection, depth: int, max_nodes: int
    ) -> Subgraph:
        """DERIVED_FROM reachability: `upstream` follows what `ref` derives from,
        `downstream` what derives from it; each node with its shortest distance; at most
        `depth` levels and `max_nodes` nodes (`truncated` when more exist)."""
        ...

    async def path(self, source: NodeRef, target: NodeRef, max_depth: int) -> GraphPath | None:
        """A shortest path over any relationship, either direction, at most `max_depth`
        relationships long; None when there is none that short."""
        ...

    async def ensure_indexes(self) -> list[str]:
        """Create the guide's indexes if missing (idempotent); the statements run."""
        ...

    async def clear(self) -> None:
        """Remove everything (before a rebuild)."""
        ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...
