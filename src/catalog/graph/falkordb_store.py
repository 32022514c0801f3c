"""The `falkordb` graph store: Cypher over FalkorDB's Redis protocol (GRAPH.QUERY).

Dialect and client notes, against Neo4j:
- No multi-statement transactions: each statement is atomic on its own, and an upsert batch
  is a sequence of them. A failure half-way leaves part of a batch applied; the outbox
  re-applies the whole batch, and every statement is idempotent (MERGE / SET = / DELETE), so
  the graph still converges. FalkorDB runs one write at a time per graph.
- Parameters travel inside the query text (a `CYPHER name=value ...` header that the client
  builds, quoting and escaping strings), not out of band as with Bolt; cypher.plain() lets only
  values through that the header renders faithfully (the injection tests cover quotes,
  backslashes, braces, newlines and unicode).
- Reads use GRAPH.RO_QUERY, which the server refuses to run if the text could write.
- A graph exists once something wrote to it: until then (a fresh server, or one that lost its
  data) a read fails with "empty key", which here reads as the empty graph (no rows).
- No `IF NOT EXISTS` for indexes and no index names: existing ones are listed with
  `CALL db.indexes()` and only the missing ones created.

The graph handle is FalkorDB's own `AsyncGraph` over a bounded redis asyncio pool of ours
(`NEO4J_MAX_CONNECTIONS`: the one bound of the graph pool, whichever Cypher store). We do not
build `falkordb.asyncio.FalkorDB`: its constructor probes for a cluster with a blocking
synchronous INFO, which stalls the event loop and raises when the server is down at start.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis
import redis.exceptions
from falkordb.asyncio.graph import AsyncGraph
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from catalog.graph.cypher import Statement, falkordb_index_statements
from catalog.graph.cypher_store import CypherStore, Rows
from catalog.settings import Settings

# GRAPH.RO_QUERY's error for a graph that does not exist (yet)
EMPTY_KEY = "Invalid graph operation on empty key"


class FalkorDBStore(CypherStore):
    name = "falkordb"

    def __init__(self, url: str, graph: str, *, max_connections: int, timeout_s: float) -> None:
        super().__init__(timeout_s)
        self._pool = aioredis.BlockingConnectionPool.from_url(
            url,
            max_connections=max_connections,
            timeout=timeout_s,  # waiting for a free connection
            socket_connect_timeout=timeout_s,
            socket_timeout=timeout_s,
            # A pooled connection the server closed meanwhile (it restarted, or dropped idle
            # clients) fails on its next use: one retry on a fresh connection tells that from
            # an outage. Not on timeouts, and harmless for writes (each statement idempotent).
            retry=Retry(NoBackoff(), 1, supported_errors=(redis.exceptions.ConnectionError,)),
            decode_responses=True,
        )
        self._redis = aioredis.Redis.from_pool(self._pool)
        self._graph = AsyncGraph(self._redis, graph)
        self._max_connections = max_connections

    @classmethod
    def from_settings(cls, settings: Settings) -> FalkorDBStore:
        if not settings.falkordb_url:
            raise ValueError("the falkordb graph store needs CATALOG_FALKORDB_URL")
        return cls(
            settings.falkordb_url,
            settings.falkordb_graph,
            max_connections=settings.neo4j_max_connections,
            timeout_s=settings.graph_timeout_s,
        )

    async def _execute(self, statements: Sequence[Statement], write: bool) -> list[Rows]:
        results: list[Rows] = []
        for statement in statements:
            params = statement.params or None
            if write:
                result = await self._graph.query(statement.text, params)
            else:  # the server aborts a read that runs past the timeout (milliseconds)
                timeout_ms = max(1, int(self.timeout_s * 1000))
                try:
                    result = await self._graph.ro_query(statement.text, params, timeout=timeout_ms)
                except redis.exceptions.ResponseError as exc:
                    if EMPTY_KEY not in str(exc):
                        raise
                    results.append([])  # no graph yet: nothing to read
                    continue
            results.append([list(row) for row in result.result_set])
        return results

    def _unavailable(self, error: Exception) -> bool:
        if isinstance(error, redis.exceptions.ConnectionError | redis.exceptions.TimeoutError):
            return True  # down, refused, reset, loading, no free pool connection, socket timeout
        if isinstance(error, redis.exceptions.ResponseError):
            return "timed out" in str(error).lower()
        return isinstance(error, OSError)

    def _pool_counts(self) -> dict[str, int]:
        # redis-py keeps these as private lists/sets; read defensively.
        pool: Any = self._pool
        counts = {"max": self._max_connections}
        in_use, idle = (
            getattr(pool, "_in_use_connections", None),
            getattr(pool, "_available_connections", None),
        )
        if in_use is not None and idle is not None:
            counts |= {"in_use": len(in_use), "idle": len(idle)}
        return counts

    async def ensure_indexes(self) -> list[str]:
        statements = falkordb_index_statements(await self.indexes())
        for text in statements:
            try:
                await self._run("ensure_indexes", [Statement(text)], write=True)
            except redis.exceptions.ResponseError as exc:
                # another process created it between our look and our CREATE
                if "already indexed" not in str(exc):
                    raise
        return statements

    async def indexes(self) -> set[tuple[str, str]]:
        listing = Statement("CALL db.indexes() YIELD label, properties RETURN label, properties")
        [rows] = await self._run("indexes", [listing])
        return {(str(name), str(prop)) for name, props in rows for prop in props}

    async def close(self) -> None:
        await self._redis.aclose()
