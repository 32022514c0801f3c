"""`catalog graph rebuild`: replay every node from the catalog tables into the graph store.

The same state reads as the outbox worker (graph/snapshot.py), page by page, so a rebuilt graph
equals an incrementally projected one. Writes may go on meanwhile: their outbox rows are
projected after (or during) the rebuild and, being state-based, converge on the same graph.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from catalog.graph.model import LABELS, NodeRef
from catalog.graph.snapshot import all_ids, read_states
from catalog.graph.store import GraphStore


async def rebuild(
    store: GraphStore, sessions: async_sessionmaker[AsyncSession], *, batch: int = 500
) -> dict[str, int]:
    """Clear the store and project every node; the number of nodes per label."""
    await store.clear()
    await store.ensure_indexes()
    counts: dict[str, int] = {}
    for label in LABELS:
        counts[label] = 0
        after = ""
        while True:
            async with sessions() as session:
                ids = await all_ids(session, label, after, batch)
                if not ids:
                    break
                states = await read_states(session, [NodeRef(label, i) for i in ids])
            await store.upsert(states)
            counts[label] += len(ids)
            after = ids[-1]
    return counts
