"""Keeping each product's search document current.

Services call `SearchIndex(session).refresh(product_ids)` in the same transaction as the
change, so a committed write is searchable at once (no lag, nothing to lose). The document is
rebuilt from the source tables with a fixed handful of statements, whatever the number of
products.

Concurrency: two transactions changing one product (say, each adding a tag) would each
rebuild the document from a snapshot missing the other's change. So a refresh first locks
the products' rows (`FOR NO KEY UPDATE`, which does not conflict with the key-share locks
foreign keys take): the second refresh waits for the first to commit, and under READ
COMMITTED its next statements see that commit. SQLite serialises writers anyway.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import semver
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.db.models import (
    DataElement,
    DataProduct,
    DataProductVersion,
    ProductElement,
    ProductSearch,
    ProductTag,
    Tag,
)
from catalog.kit.repository import Repository, table_of

ELEMENTS_TEXT_MAX = 20_000
CHUNK = 1000


def latest_version(versions: list[tuple[str, str | None, Any]]) -> str | None:
    """Highest stable, non-deprecated version; else the highest of any kind (as the API)."""
    if not versions:
        return None
    ordered = sorted(versions, key=lambda v: semver.Version.parse(v[0]), reverse=True)
    stable = [v for v in ordered if v[1] is None and v[2] is None]
    return (stable or ordered)[0][0]


class SearchIndex(Repository[ProductSearch]):
    model = ProductSearch

    async def refresh(self, product_ids: Iterable[str]) -> None:
        ids = sorted(set(product_ids))
        for start in range(0, len(ids), CHUNK):
            await self._refresh_chunk(ids[start : start + CHUNK])

    async def _refresh_chunk(self, ids: list[str]) -> None:
        query = select(DataProduct).where(DataProduct.id.in_(ids)).order_by(DataProduct.id)
        if self.dialect == "postgresql":
            query = query.with_for_update(key_share=True)  # FOR NO KEY UPDATE
        products = (await self.session.scalars(query)).all()
        if not products:
            return
        found = [p.id for p in products]
        tags = await self._tags(found)
        elements = await self._elements(found)
        quality = await self._quality(found)
        versions = await self._versions(found)
        rows = [
            {
                "product_id": p.id,
                "name": p.name,
                "description": p.description,
                "team": p.team,
                "category": p.category,
                "owner": p.owner,
                "status": p.status,
                "visibility": p.visibility,
                "tags_text": " ".join(tags[p.id]),
                "tag_names": tags[p.id],
                "elements_text": " ".join(elements[p.id])[:ELEMENTS_TEXT_MAX],
                "quality_score": quality.get(p.id),
                "latest_version": latest_version(versions[p.id]),
                "created_at": p.created_at,
                "updated_at": p.updated_at,
            }
            for p in products
        ]
        table = table_of(ProductSearch)
        statement = self.insert(table)
        update = {
            column: statement.excluded[column] for column in rows[0] if column != "product_id"
        }
        await self.session.execute(
            statement.on_conflict_do_update(index_elements=["product_id"], set_=update), rows
        )

    async def _tags(self, ids: list[str]) -> dict[str, list[str]]:
        found: dict[str, list[str]] = defaultdict(list)
        rows = await self.session.execute(
            select(ProductTag.product_id, Tag.name)
            .join(Tag, Tag.id == ProductTag.tag_id)
            .where(ProductTag.product_id.in_(ids))
            .order_by(ProductTag.product_id, Tag.name)
        )
        for product_id, name in rows:
            found[product_id].append(name)
        return found

    async def _elements(self, ids: list[str]) -> dict[str, list[str]]:
        found: dict[str, list[str]] = defaultdict(list)
        rows = await self.session.execute(
            select(ProductElement.product_id, DataElement.name, DataElement.definition)
            .join(DataElement, DataElement.id == ProductElement.data_element_id)
            .where(ProductElement.product_id.in_(ids))
            .order_by(ProductElement.product_id, DataElement.name)
        )
        for product_id, name, definition in rows:
            found[product_id].extend((name, definition))
        return found

    async def _quality(self, ids: list[str]) -> dict[str, float]:
        rows = await self.session.execute(
            select(ProductElement.product_id, func.avg(DataElement.quality_score))
            .join(DataElement, DataElement.id == ProductElement.data_element_id)
            .where(ProductElement.product_id.in_(ids), DataElement.quality_score.is_not(None))
            .group_by(ProductElement.product_id)
        )
        return {product_id: float(score) for product_id, score in rows}

    async def _versions(self, ids: list[str]) -> dict[str, list[tuple[str, str | None, Any]]]:
        found: dict[str, list[tuple[str, str | None, Any]]] = defaultdict(list)
        rows = await self.session.execute(
            select(
                DataProductVersion.product_id,
                DataProductVersion.version,
                DataProductVersion.prerelease,
                DataProductVersion.deprecated_at,
            ).where(DataProductVersion.product_id.in_(ids))
        )
        for product_id, version, prerelease, deprecated_at in rows:
            found[product_id].append((version, prerelease, deprecated_at))
        return found

    async def products_with_elements(self, element_ids: Iterable[str]) -> list[str]:
        ids = list(set(element_ids))
        if not ids:
            return []
        rows = await self.session.scalars(
            select(ProductElement.product_id)
            .where(ProductElement.data_element_id.in_(ids))
            .distinct()
        )
        return list(rows)

    async def products_with_tags(self, tag_ids: Iterable[str]) -> list[str]:
        ids = list(set(tag_ids))
        if not ids:
            return []
        rows = await self.session.scalars(
            select(ProductTag.product_id).where(ProductTag.tag_id.in_(ids)).distinct()
        )
        return list(rows)


def search_index(session: AsyncSession) -> SearchIndex:
    return SearchIndex(session)
