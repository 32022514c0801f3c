"""All SQL of the search index: the catalog rows its documents are built from.

Reads are batched by id (a few statements per batch, whatever its size) and page through
whole tables by id for a rebuild.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import select

from catalog.db.models import (
    DataElement,
    DataProduct,
    DataProductVersion,
    ProductElement,
    ProductTag,
    ProductUsageStats,
    Tag,
)
from catalog.kit.repository import Repository
from catalog.search.documents import Member, ProductSource, TagNode, Usage, Version


class SourceRepository(Repository[DataProduct]):
    model = DataProduct

    async def products(self, ids: Iterable[str]) -> list[ProductSource]:
        """The products among `ids` that exist, with their tags, members, versions, usage."""
        wanted = sorted(set(ids))
        if not wanted:
            return []
        rows = await self.session.execute(
            select(
                DataProduct.id,
                DataProduct.name,
                DataProduct.description,
                DataProduct.team,
                DataProduct.category,
                DataProduct.owner,
                DataProduct.status,
                DataProduct.visibility,
                DataProduct.updated_at,
                DataProduct.governed_column_coverage,
            ).where(DataProduct.id.in_(wanted))
        )
        found = {row.id: ProductSource(**row._asdict()) for row in rows}
        if not found:
            return []
        ids_found = list(found)
        for product_id, tag in await self._tags(ids_found):
            found[product_id].tags.append(tag)
        for product_id, member in await self._members(ids_found):
            found[product_id].members.append(member)
        for product_id, version in await self._versions(ids_found):
            found[product_id].versions.append(version)
        for product_id, usage in await self._usage(ids_found):
            found[product_id].usage = usage
        return list(found.values())

    async def _tags(self, ids: list[str]) -> list[tuple[str, TagNode]]:
        rows = await self.session.execute(
            select(ProductTag.product_id, Tag.id, Tag.name, Tag.parent_tag_id)
            .join(Tag, Tag.id == ProductTag.tag_id)
            .where(ProductTag.product_id.in_(ids))
        )
        return [(r.product_id, TagNode(r.id, r.name, r.parent_tag_id)) for r in rows]

    async def _members(self, ids: list[str]) -> list[tuple[str, Member]]:
        rows = await self.session.execute(
            select(
                ProductElement.product_id,
                DataElement.id,
                DataElement.name,
                DataElement.definition,
                DataElement.quality_score,
            )
            .join(DataElement, DataElement.id == ProductElement.data_element_id)
            .where(ProductElement.product_id.in_(ids))
            .order_by(ProductElement.product_id, DataElement.name)
        )
        return [
            (r.product_id, Member(r.id, r.name, r.definition or "", r.quality_score)) for r in rows
        ]

    async def _versions(self, ids: list[str]) -> list[tuple[str, Version]]:
        rows = await self.session.execute(
            select(
                DataProductVersion.product_id,
                DataProductVersion.version,
                DataProductVersion.prerelease,
                DataProductVersion.deprecated_at,
            ).where(DataProductVersion.product_id.in_(ids))
        )
        return [
            (r.product_id, Version(r.version, r.prerelease, r.deprecated_at is not None))
            for r in rows
        ]

    async def _usage(self, ids: list[str]) -> list[tuple[str, Usage]]:
        stats = ProductUsageStats
        rows = await self.session.execute(
            select(
                stats.product_id,
                stats.view_count,
                stats.unique_viewers,
                stats.approved_access,
                stats.rating_count,
                stats.rating_sum,
            ).where(stats.product_id.in_(ids))
        )
        return [
            (
                r.product_id,
                Usage(
                    r.view_count, r.unique_viewers, r.approved_access, r.rating_count, r.rating_sum
                ),
            )
            for r in rows
        ]

    async def tag_forest(self) -> dict[str, TagNode]:
        """Every tag by id (a catalog has hundreds or thousands: read whole, once a batch)."""
        rows = await self.session.execute(select(Tag.id, Tag.name, Tag.parent_tag_id))
        return {r.id: TagNode(r.id, r.name, r.parent_tag_id) for r in rows}

    async def element_names(self, ids: Iterable[str]) -> dict[str, str]:
        wanted = sorted(set(ids))
        if not wanted:
            return {}
        rows = await self.session.execute(
            select(DataElement.id, DataElement.name).where(DataElement.id.in_(wanted))
        )
        return {r.id: r.name for r in rows}

    async def usage_changed_since(self, moment: datetime) -> set[str]:
        """Products whose usage counters moved at or after `moment`."""
        rows = await self.session.scalars(
            select(ProductUsageStats.product_id).where(ProductUsageStats.updated_at >= moment)
        )
        return set(rows)

    async def ids_after(self, kind: str, after: str, limit: int) -> Sequence[str]:
        """Ids of products, tags or elements in id order after `after` (a rebuild's pages)."""
        column = {"product": DataProduct.id, "tag": Tag.id, "element": DataElement.id}[kind]
        rows = await self.session.scalars(
            select(column).where(column > after).order_by(column).limit(limit)
        )
        return list(rows)
