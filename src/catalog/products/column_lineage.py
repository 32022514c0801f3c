"""Column-level lineage: which columns of which products a column is computed from, and
which it feeds, walked over `column_lineage_edges` by one recursive query per direction
(repository.py's `walk`: each level an index lookup on an edge's end), so a walk costs the
same few statements at any depth; products the caller may not see are cut out of the answer
(with the edges that reach them), as product lineage does.
"""

from __future__ import annotations

from catalog.core.errors import NotFound
from catalog.db.models import ColumnLineageEdge
from catalog.products import schemas
from catalog.products.repository import ColumnLineageRepository
from catalog.products.service import ProductService

End = tuple[str, str]  # (product id, column name)


class ColumnLineageService(ProductService):
    async def column_lineage(
        self, product_id: str, column: str, direction: str, depth: int, max_nodes: int
    ) -> schemas.ColumnLineageOut:
        product = await self.get(product_id)
        repository = ColumnLineageRepository(self.session)
        start: End = (product_id, column)
        ways = ("upstream", "downstream") if direction == "both" else (direction,)
        depths: dict[End, int] = {start: 0}
        edges: dict[str, ColumnLineageEdge] = {}
        truncated = False
        for way in ways:
            # One step further than asked: an edge there says more exists.
            found = sorted(
                await repository.walk(product_id, column, way, depth + 1), key=lambda f: f[1]
            )
            for edge, level in found:
                far = _far_end(edge, way)
                if level > depth or (far not in depths and len(depths) > max_nodes):
                    truncated = truncated or far not in depths
                    continue
                depths.setdefault(far, level)
                edges[edge.id] = edge
        if not edges and not await self._known_column(product_id, column):
            raise NotFound(f"column of data product {product.name!r}", column)
        names = await self.visible_names({pid for pid, _ in depths})
        return schemas.ColumnLineageOut(
            product_id=product_id,
            column=column,
            direction=direction,  # type: ignore[arg-type]
            depth=depth,
            nodes=[
                schemas.ColumnNode(
                    product_id=pid, product_name=names[pid], column=name, depth=level
                )
                for (pid, name), level in sorted(depths.items(), key=lambda item: item[1])
                if pid in names and (pid, name) != start
            ],
            edges=[
                schemas.ColumnEdgeOut.model_validate(edge)
                for edge in edges.values()
                if edge.upstream_product_id in names and edge.downstream_product_id in names
            ],
            truncated=truncated,
        )

    async def _known_column(self, product_id: str, column: str) -> bool:
        """In the product's schema, or at either end of some column lineage."""
        if column in {c.name for c in await self.columns.current(product_id)}:
            return True
        repository = ColumnLineageRepository(self.session)
        ends = [(product_id, column)]
        return bool(
            await repository.step(ends, "upstream") or await repository.step(ends, "downstream")
        )

    async def sources_of_columns(self, product_id: str) -> dict[str, list[schemas.ColumnNode]]:
        """Each column of this product that is computed from others: the columns it comes
        from, one step upstream (those of products the caller may see)."""
        columns = [c.name for c in await self.columns.current(product_id)]
        found = await ColumnLineageRepository(self.session).step(
            [(product_id, name) for name in columns], "upstream"
        )
        names = await self.visible_names({edge.upstream_product_id for edge in found})
        sources: dict[str, list[schemas.ColumnNode]] = {}
        for edge in sorted(found, key=lambda e: (e.upstream_product_id, e.upstream_column)):
            if edge.upstream_product_id in names:
                sources.setdefault(edge.downstream_column, []).append(
                    schemas.ColumnNode(
                        product_id=edge.upstream_product_id,
                        product_name=names[edge.upstream_product_id],
                        column=edge.upstream_column,
                        depth=1,
                    )
                )
        return sources


def _far_end(edge: ColumnLineageEdge, direction: str) -> End:
    if direction == "upstream":
        return (edge.upstream_product_id, edge.upstream_column)
    return (edge.downstream_product_id, edge.downstream_column)
