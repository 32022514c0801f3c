"""The `neo4j` graph store: Cypher over Bolt with the official async driver.

- One driver per process, its pool bounded by `NEO4J_MAX_CONNECTIONS`; waiting for a free
  connection is bounded by the graph timeout like the query itself.
- Every statement is parameterised (cypher.py builds them; values travel out of band in
  Bolt). A write batch runs in one managed transaction, so it applies whole or not at all.
- The driver's own retry of managed transactions is limited to the graph timeout: the outbox
  worker retries with full jitter and the `graph` circuit breaker (core/retry.py,
  core/breaker.py), so an outage is not retried twice over.
- Indexes in Neo4j 5 syntax with `IF NOT EXISTS` and stable names (cypher.py); `SHOW INDEXES`
  lists them.

Tested by the shared suite (tests/graph/) when `NEO4J_URI` points at a server.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import neo4j
import neo4j.exceptions

from catalog.graph.cypher import (
    NODE_INDEXES,
    RELATIONSHIP_INDEXES,
    Statement,
    neo4j_index_statements,
)
from catalog.graph.cypher_store import CypherStore, Rows
from catalog.settings import Settings

INDEXED = (*NODE_INDEXES, *RELATIONSHIP_INDEXES)  # in the order of neo4j_index_statements()


class Neo4jStore(CypherStore):
    name = "neo4j"

    def __init__(
        self,
        uri: str,
        auth: tuple[str, str] | None,
        *,
        database: str | None,
        max_connections: int,
        timeout_s: float,
    ) -> None:
        super().__init__(timeout_s)
        self._driver = neo4j.AsyncGraphDatabase.driver(
            uri,
            auth=auth,
            max_connection_pool_size=max_connections,
            connection_acquisition_timeout=timeout_s,
            connection_timeout=timeout_s,
            max_transaction_retry_time=timeout_s,
        )
        self._database = database
        self._max_connections = max_connections

    @classmethod
    def from_settings(cls, settings: Settings) -> Neo4jStore:
        if not settings.neo4j_uri:
            raise ValueError("the neo4j graph store needs NEO4J_URI")
        auth = None
        if settings.neo4j_username:
            password = settings.neo4j_password.get_secret_value() if settings.neo4j_password else ""
            auth = (settings.neo4j_username, password)
        return cls(
            settings.neo4j_uri,
            auth,
            database=settings.neo4j_database,
            max_connections=settings.neo4j_max_connections,
            timeout_s=settings.graph_timeout_s,
        )

    async def _execute(self, statements: Sequence[Statement], write: bool) -> list[Rows]:
        async def work(tx: neo4j.AsyncManagedTransaction) -> list[Rows]:
            results: list[Rows] = []
            for statement in statements:
                result = await tx.run(statement.text, statement.params)
                results.append([list(record.values()) async for record in result])
            return results

        async with self._driver.session(database=self._database) as session:
            if write:
                return await session.execute_write(work)
            return await session.execute_read(work)

    def _unavailable(self, error: Exception) -> bool:
        return isinstance(
            error,
            neo4j.exceptions.ServiceUnavailable
            | neo4j.exceptions.SessionExpired
            | neo4j.exceptions.TransientError
            | OSError,
        )

    def _pool_counts(self) -> dict[str, int]:
        # The driver keeps its pool private; read defensively (absent -> only `max`).
        counts = {"max": self._max_connections}
        pool: Any = getattr(self._driver, "_pool", None)
        connections = getattr(pool, "connections", None)
        if isinstance(connections, dict):
            everyone = [c for group in connections.values() for c in group]
            in_use = sum(1 for c in everyone if getattr(c, "in_use", False))
            counts |= {"in_use": in_use, "idle": len(everyone) - in_use}
        return counts

    async def ensure_indexes(self) -> list[str]:
        """Runs every statement (IF NOT EXISTS: a no-op when present, also under a race with
        another replica) and returns those of indexes that were missing."""
        existing = await self.indexes()
        created: list[str] = []
        for (name, prop), text in zip(INDEXED, neo4j_index_statements(), strict=True):
            # a schema change cannot share a transaction with other statements
            await self._run("ensure_indexes", [Statement(text)], write=True)
            if (name, prop) not in existing:
                created.append(text)
        return created

    async def indexes(self) -> set[tuple[str, str]]:
        listing = Statement(
            "SHOW INDEXES YIELD labelsOrTypes, properties "
            "WHERE labelsOrTypes IS NOT NULL AND size(properties) = 1 "
            "RETURN labelsOrTypes, properties"
        )
        [rows] = await self._run("indexes", [listing])
        return {(str(names[0]), str(props[0])) for names, props in rows}

    async def close(self) -> None:
        await self._driver.close()
