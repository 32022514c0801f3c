"""Reads of the graph for the API: neighbours, shortest paths and product lineage.

The configured store answers (graph/store.py); this layer checks that the nodes exist, hides
restricted products the caller may not see (their team and stewards only, as everywhere else;
a path through one is not shown), and turns a graph outage into 503.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from catalog.core.breaker import CircuitBreaker, CircuitOpen
from catalog.core.errors import NotFound, ServiceUnavailable, Unprocessable
from catalog.core.logging import get_logger
from catalog.graph import schemas
from catalog.graph.model import (
    LABELS,
    LINEAGE_KINDS,
    Direction,
    Edge,
    FoundNode,
    Label,
    LineageDirection,
    NodeRef,
    RelType,
    Subgraph,
)
from catalog.graph.repository import GraphRepository
from catalog.graph.store import GraphStore, GraphUnavailable
from catalog.identity.principal import Actor, restricted_view, sees
from catalog.products import schemas as product_schemas

T = TypeVar("T")
log = get_logger(__name__)


def parse_node(text: str, what: str = "node") -> NodeRef:
    """`Label:id`, e.g. `DataProduct:0190…`; the label must be one of the graph's."""
    label, sep, node_id = text.partition(":")
    if not sep or not node_id or label not in LABELS or not node_id.isprintable():
        raise _malformed(what)
    return NodeRef(label, node_id)


def _malformed(what: str) -> Unprocessable:
    return Unprocessable(f"{what} must be an id or Label:id with Label one of {', '.join(LABELS)}")


class GraphService:
    def __init__(
        self,
        session: AsyncSession,
        actor: Actor,
        store: GraphStore,
        breaker: CircuitBreaker | None,
        retry_after: int,
    ) -> None:
        self.repository = GraphRepository(session)
        self.actor = actor
        self.store = store
        self.breaker = breaker
        self.retry_after = retry_after

    async def resolve(self, text: str, what: str = "node") -> NodeRef:
        """A node named `Label:id`, or by its bare id, whose kind the catalog knows.

        Ids the service generates hold no colon, so a colon means `Label:id`. A bare id that
        names two kinds (only possible for ids written into the catalog from outside) is 422:
        guessing would answer a question about the wrong node. Kinds the caller may not see
        are not candidates, so the answer never tells a hidden product exists.
        """
        if ":" in text:
            return parse_node(text, what)
        if not text.isprintable():
            raise _malformed(what)
        found = [NodeRef(label, text) for label in await self.repository.labels_of(text)]
        hidden = await self._hidden(found)
        refs = sorted(ref for ref in found if ref not in hidden)
        if not refs:
            raise NotFound("node", text)
        if len(refs) > 1:
            kinds = " and a ".join(_kind(ref.label) for ref in refs)
            raise Unprocessable(
                f"{what} {text} is ambiguous: it names a {kinds}; "
                f"name one as Label:id ({', '.join(map(str, refs))})"
            )
        return refs[0]

    async def neighbours(
        self, node: str, direction: Direction, types: Sequence[RelType] | None, limit: int
    ) -> schemas.NeighboursOut:
        ref = await self.resolve(node)
        start = await self._visible_node(ref)
        found = await self._ask(lambda: self.store.neighbours(ref, direction, types, limit))
        found = await self._without_hidden(found)
        return schemas.NeighboursOut(
            node=start,
            direction=direction,
            nodes=[_node(n) for n in found.nodes if n.ref != ref],
            edges=[_edge(e) for e in found.edges],
            truncated=found.truncated,
            store=self.store.name,
        )

    async def path(self, source_text: str, target_text: str, max_depth: int) -> schemas.PathOut:
        source = await self.resolve(source_text, "from")
        target = await self.resolve(target_text, "to")
        start = await self._visible_node(source)
        end = await self._visible_node(target)
        found = await self._ask(lambda: self.store.path(source, target, max_depth))
        if found is not None and await self._hidden([n.ref for n in found.nodes]):
            found = None  # a path through a product the caller may not see is not shown
        return schemas.PathOut(
            source=start,
            target=end,
            max_depth=max_depth,
            found=found is not None,
            length=len(found.edges) if found is not None else None,
            nodes=[_node(n) for n in found.nodes] if found is not None else [],
            edges=[_edge(e) for e in found.edges] if found is not None else [],
            store=self.store.name,
        )

    async def product_lineage(
        self, product_id: str, direction: LineageDirection, depth: int, max_nodes: int
    ) -> product_schemas.LineageOut:
        ref = NodeRef("DataProduct", product_id)
        root = await self._visible_node(ref)
        found = await self._ask(lambda: self.store.lineage(ref, direction, depth, max_nodes))
        found = await self._without_hidden(found)
        found.nodes = [FoundNode(ref, root.name, 0) if n.ref == ref else n for n in found.nodes]
        return product_schemas.LineageOut(
            product_id=product_id,
            direction=direction,
            depth=depth,
            nodes=[
                product_schemas.LineageNode(
                    type=LINEAGE_KINDS[n.ref.label],  # type: ignore[arg-type]
                    id=n.ref.id,
                    name=n.name,
                    depth=n.depth,
                )
                for n in found.nodes
            ],
            edges=[
                product_schemas.LineageEdgeOut(
                    # DERIVED_FROM points from the derived (downstream) to its source
                    upstream_type=LINEAGE_KINDS[e.target.label],  # type: ignore[arg-type]
                    upstream_id=e.target.id,
                    downstream_type=LINEAGE_KINDS[e.source.label],  # type: ignore[arg-type]
                    downstream_id=e.source.id,
                    relationship=str(e.props.get("relationship") or "feeds"),
                    job=e.props.get("job"),
                )
                for e in found.edges
            ],
            truncated=found.truncated,
        )

    # --- helpers -----------------------------------------------------------------------------

    async def _ask(self, question: Callable[[], Awaitable[T]]) -> T:
        if self.breaker is None:
            # The `sql` store is the catalog database: its failures are the database's, answered
            # as every other database failure is (503 with Retry-After), not a graph outage.
            return await question()
        try:
            return await self.breaker.call(question)
        except (GraphUnavailable, CircuitOpen) as exc:
            log.warning("graph_unavailable", store=self.store.name, error=repr(exc)[:300])
            # `from None`: not a database error, so the route's database retries (which follow
            # the cause) must not repeat the request against a graph that is down.
            raise ServiceUnavailable(
                f"graph database ({self.store.name}) unavailable", retry_after=self.retry_after
            ) from None

    async def _visible_node(self, ref: NodeRef) -> schemas.GraphNodeOut:
        """The start or end of a question, looked up in the catalog (the source of truth), so
        a node a projected store has not caught up with yet is not a 404."""
        found, name = await self.repository.node_name(ref)
        if not found or await self._hidden([ref]):
            raise NotFound(_kind(ref.label), ref.id)
        return schemas.GraphNodeOut(label=ref.label, id=ref.id, name=name, depth=0)

    async def _hidden(self, refs: Sequence[NodeRef]) -> set[NodeRef]:
        """The products, and versions and schema columns of products, among `refs` the caller
        may not see."""
        see_all, _ = restricted_view(self.actor)
        products = [r.id for r in refs if r.label == "DataProduct"]
        versions = [r.id for r in refs if r.label == "DataProductVersion"]
        columns = [r.id for r in refs if r.label == "SchemaColumn"]
        if see_all or not (products or versions or columns):
            return set()
        hidden: set[NodeRef] = set()
        for label, ids, read in (
            ("DataProduct", products, self.repository.product_visibility),
            ("DataProductVersion", versions, self.repository.version_visibility),
            ("SchemaColumn", columns, self.repository.column_visibility),
        ):
            if ids:
                hidden |= {
                    NodeRef(label, node_id)  # type: ignore[arg-type]
                    for node_id, visibility, team in await read(ids)
                    if not sees(self.actor, visibility, team)
                }
        return hidden

    async def _without_hidden(self, found: Subgraph) -> Subgraph:
        hidden = await self._hidden([n.ref for n in found.nodes])
        if not hidden:
            return found
        return Subgraph(
            [n for n in found.nodes if n.ref not in hidden],
            [e for e in found.edges if e.source not in hidden and e.target not in hidden],
            found.truncated,
        )


def _node(node: FoundNode) -> schemas.GraphNodeOut:
    return schemas.GraphNodeOut(
        label=node.ref.label, id=node.ref.id, name=node.name, depth=node.depth
    )


def _edge(edge: Edge) -> schemas.GraphEdgeOut:
    return schemas.GraphEdgeOut(
        type=edge.type,
        source_label=edge.source.label,
        source_id=edge.source.id,
        target_label=edge.target.label,
        target_id=edge.target.id,
    )


def _kind(label: Label) -> str:
    return {
        "DataProduct": "data product",
        "DataElement": "data element",
        "DataElementConcept": "data element concept",
        "ValueDomain": "value domain",
        "DataProductVersion": "data product version",
        "Tag": "tag",
        "SchemaColumn": "schema column",
    }[label]
