"""The relationship graph (elements, products and their schema columns, tags, lineage): the
GraphStore protocol (store.py), its adapters (sql_store.py, neo4j_store.py,
falkordb_store.py), the outbox that feeds the Cypher ones (outbox.py, worker.py) and the reads
the API serves (service.py)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from catalog.graph.store import GraphStore
from catalog.settings import Settings


def open_graph_store(
    settings: Settings, read_sessions: async_sessionmaker[AsyncSession]
) -> GraphStore:
    """The configured store (CATALOG_GRAPH_STORE); the drivers are imported only when used."""
    if settings.graph_store == "neo4j":
        from catalog.graph.neo4j_store import Neo4jStore

        return Neo4jStore.from_settings(settings)
    if settings.graph_store == "falkordb":
        from catalog.graph.falkordb_store import FalkorDBStore

        return FalkorDBStore.from_settings(settings)
    from catalog.graph.sql_store import SqlGraphStore

    return SqlGraphStore(read_sessions)
