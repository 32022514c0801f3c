"""Products the catalog did not make: tables found by the crawler and datasets named by
OpenLineage events, kept by their stable `source_ref` (kit/dataset_refs.py).

Both sources repeat themselves (a nightly crawl, a job's every run), so every write here is
idempotent: a product is found before it is made, a schema that did not change writes no
version, an edge that exists is not drawn again. What a run changed is what these methods
answer, so callers can report it (and a run that changed nothing wrote nothing).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from catalog.core.errors import Conflict
from catalog.db.models import DataProduct
from catalog.kit.schemas import NAME_MAX
from catalog.products import schemas
from catalog.products.dataset_schema import SchemaService
from catalog.products.repository import ColumnLineageRepository


@dataclass(frozen=True)
class NewProduct:
    """What a source knows of a dataset it names."""

    source_ref: str
    name: str
    team: str
    owner: str
    category: str = "dataset"
    description: str = ""


@dataclass(frozen=True)
class ColumnEdge:
    upstream_product_id: str
    upstream_column: str
    downstream_product_id: str
    downstream_column: str
    transformation: str = ""
    job: str | None = None


class ExternalProducts(SchemaService):
    async def by_refs(self, refs: Iterable[str]) -> dict[str, DataProduct]:
        return {p.source_ref or "": p for p in await self.products.by_source_refs(refs)}

    async def ensure(self, wanted: Sequence[NewProduct]) -> dict[str, DataProduct]:
        """The products of these refs, made as drafts where none exists yet (by ref)."""
        found = await self.by_refs(w.source_ref for w in wanted)
        missing = [w for w in wanted if w.source_ref not in found]
        if missing:
            names = await self._free_names(missing)
            items = [
                schemas.ProductCreate(
                    name=names[w.source_ref],
                    description=w.description,
                    team=w.team,
                    owner=w.owner,
                    category=w.category,
                )
                for w in missing
            ]
            outcomes = await self.create_many(items)
            for outcome in outcomes:
                if outcome.error is not None:
                    raise outcome.error
            ids = {w.source_ref: o.id for w, o in zip(missing, outcomes, strict=True) if o.id}
            await self.products.set_source_refs(ids)
            found |= await self.by_refs(ids)
        return found

    async def _free_names(self, wanted: Sequence[NewProduct]) -> dict[str, str]:
        """Product names are unique: a dataset whose name another product has already is
        named by its whole reference instead (cut to the name's length)."""
        taken = await self.products.taken_names(w.name for w in wanted)
        names: dict[str, str] = {}
        for w in wanted:
            name = w.name if w.name not in taken else w.source_ref[-NAME_MAX:]
            taken.add(name)
            names[w.source_ref] = name
        return names

    async def link(
        self, pairs: Iterable[tuple[str, str]], relationship: str, job: str | None = None
    ) -> int:
        """Draw each (upstream, downstream) product pair's "feeds" edge unless it exists or
        would close a cycle (a job reading and writing one table, tables whose keys refer to
        each other); how many were drawn. Existing edges are found in one query, so a
        source repeating itself costs one statement here."""
        wanted = {(up, down) for up, down in pairs if up != down}
        drawn = 0
        for upstream_id, downstream_id in sorted(wanted - await self.lineage.existing(wanted)):
            try:
                edge = await self.add_lineage(
                    downstream_id,
                    schemas.LineageIn(upstream_id=upstream_id, relationship=relationship),
                )
            except Conflict:
                continue
            edge.job = job
            drawn += 1
        return drawn

    async def link_columns(self, edges: Sequence[ColumnEdge]) -> int:
        """Add the column lineage edges not there yet; how many were added."""
        repository = ColumnLineageRepository(self.session)
        return await repository.add_missing(
            [
                {
                    "upstream_product_id": e.upstream_product_id,
                    "upstream_column": e.upstream_column,
                    "downstream_product_id": e.downstream_product_id,
                    "downstream_column": e.downstream_column,
                    "transformation": e.transformation,
                    "job": e.job,
                }
                for e in edges
            ]
        )

    async def deprecate(self, product: DataProduct) -> bool:
        """Mark a product whose source dropped it deprecated (kept, never deleted)."""
        if product.status == "deprecated":
            return False
        # Directly, not through update()'s status moves: a draft never published may go too.
        changes = {"status": "deprecated", "revision": product.revision + 1}
        await self._update("data_product", product, changes)
        self._announce_deprecated(product, "its table is gone from the source")
        return True
