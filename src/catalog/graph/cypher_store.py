"""What the Neo4j and FalkorDB stores share: the GraphStore methods over Cypher statements.

A subclass only runs statements (`_execute`), says which of its driver's errors mean the
database cannot answer (`_unavailable`), counts its pool, and creates indexes in its dialect.
Everything else, and so every answer, is the same code: the statements of cypher.py and the
walks of traversal.py. Every query goes through `_run`, which bounds it in time, measures it
(`catalog_neo4j_query_duration_seconds{query_type,status}`) and turns an outage into
GraphUnavailable (other errors are bugs and propagate as they are).
"""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from catalog.graph import cypher
from catalog.graph.cypher import Statement
from catalog.graph.metrics import POOL_SIZE, QUERY_DURATION
from catalog.graph.model import (
    Direction,
    Edge,
    GraphPath,
    LineageDirection,
    NodeRef,
    NodeState,
    RelType,
    Subgraph,
)
from catalog.graph.store import GraphUnavailable
from catalog.graph.traversal import lineage_walk, neighbour_walk, shortest_path

Rows = list[list[Any]]
CLEAR_BATCH = 10_000


class CypherStore(ABC):
    name: str
    projected = True

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s

    # --- what a dialect provides ------------------------------------------------------------

    @abstractmethod
    async def _execute(self, statements: Sequence[Statement], write: bool) -> list[Rows]:
        """Run the statements in order (a write: in one transaction where the database has
        transactions) and return each one's rows."""

    @abstractmethod
    def _unavailable(self, error: Exception) -> bool:
        """Whether `error` means the database cannot answer now (rather than a bad query)."""

    @abstractmethod
    def _pool_counts(self) -> dict[str, int]:
        """Connections by state (`in_use`, `idle`, `max`), as far as the driver tells."""

    @abstractmethod
    async def ensure_indexes(self) -> list[str]: ...

    @abstractmethod
    async def indexes(self) -> set[tuple[str, str]]:
        """The single-property indexes present, as (label or relationship type, property)."""

    @abstractmethod
    async def close(self) -> None: ...

    # --- the one way a query runs -----------------------------------------------------------

    async def _run(
        self, query_type: str, statements: Sequence[Statement], *, write: bool = False
    ) -> list[Rows]:
        started = time.perf_counter()
        status = "error"
        try:
            async with asyncio.timeout(self.timeout_s):
                results = await self._execute(statements, write)
            status = "ok"
            return results
        except TimeoutError as exc:
            raise GraphUnavailable(f"{self.name}: {query_type} timed out") from exc
        except Exception as exc:
            if self._unavailable(exc):
                raise GraphUnavailable(f"{self.name}: {type(exc).__name__}: {exc}") from exc
            raise
        finally:
            QUERY_DURATION.labels(query_type, status).observe(time.perf_counter() - started)
            for state, count in self._pool_counts().items():
                POOL_SIZE.labels(state).set(count)

    # --- GraphStore ---------------------------------------------------------------------------

    async def upsert(self, states: Sequence[NodeState]) -> None:
        statements = cypher.upsert_statements(states)
        if statements:
            await self._run("upsert", statements, write=True)

    async def delete(self, refs: Sequence[NodeRef]) -> None:
        statements = cypher.delete_statements(refs)
        if statements:
            await self._run("delete", statements, write=True)

    async def node(self, ref: NodeRef) -> bool:
        [rows] = await self._run("node", [cypher.node_statement(ref)])
        return bool(rows and rows[0][0])

    async def neighbours(
        self, ref: NodeRef, direction: Direction, types: Sequence[RelType] | None, limit: int
    ) -> Subgraph:
        return await neighbour_walk(self.step, self.names, ref, direction, types, limit)

    async def lineage(
        self, ref: NodeRef, direction: LineageDirection, depth: int, max_nodes: int
    ) -> Subgraph:
        return await lineage_walk(self.step, self.names, ref, direction, depth, max_nodes)

    async def path(self, source: NodeRef, target: NodeRef, max_depth: int) -> GraphPath | None:
        # Both ends up front: the walk may stop at a dead end before it would look at `target`.
        cypher.label(source.label)
        cypher.label(target.label)
        return await shortest_path(self.step, self.names, source, target, max_depth)

    async def clear(self) -> None:
        while True:
            [rows] = await self._run("clear", [cypher.clear_statement(CLEAR_BATCH)], write=True)
            if not rows or not rows[0][0]:
                return

    async def ping(self) -> None:
        await self._run("ping", [Statement("RETURN 1")])

    # --- primitives for traversal.py ----------------------------------------------------------

    async def step(
        self, frontier: Sequence[NodeRef], types: Sequence[RelType] | None, direction: Direction
    ) -> list[Edge]:
        statement = cypher.step_statement(frontier, types, direction)
        if statement is None:
            return []
        [rows] = await self._run("step", [statement])
        return [edge for row in rows if (edge := cypher.edge_of(row)) is not None]

    async def names(self, refs: Sequence[NodeRef]) -> dict[NodeRef, str | None]:
        statement = cypher.names_statement(refs)
        if statement is None:
            return {}
        [rows] = await self._run("names", [statement])
        return {NodeRef(label, node_id): name for label, node_id, name in rows}
