"""Governed column coverage: the share of a product's schema columns bound to a data element
that has a definition and, through its representation, a value domain.

Stored on the product (`data_products.governed_column_coverage`) rather than computed per
read, so the product answer, its ETag, lists and the search index all carry the same figure
without a join. It is refreshed by whatever changes it: a new schema (products), and an
edit of an element or representation that columns are bound to (registry). One statement
here serves both domains, which may not import each other.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import and_, case, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.util import identity_key

from catalog.db.models import DataElement, DataProduct, ProductSchemaColumn, Representation


def _coverage_of(product_id: Any) -> Any:
    governed = case(
        (
            and_(DataElement.definition != "", Representation.value_domain_id.is_not(None)),
            1.0,
        ),
        else_=0.0,
    )
    return (
        select(func.avg(governed))
        .select_from(ProductSchemaColumn)
        .outerjoin(DataElement, DataElement.id == ProductSchemaColumn.data_element_id)
        .outerjoin(Representation, Representation.id == DataElement.representation_id)
        .where(ProductSchemaColumn.product_id == product_id)
        .scalar_subquery()
    )


async def refresh_products(session: AsyncSession, product_ids: Iterable[str]) -> list[str]:
    """Recompute the coverage of these products (None for one without a schema)."""
    ids = sorted(set(product_ids))
    if ids:
        await session.execute(
            update(DataProduct)
            .where(DataProduct.id.in_(ids))
            .values(governed_column_coverage=_coverage_of(DataProduct.id))
            .execution_options(synchronize_session=False)
        )
        # Products this session holds read the new figure now, not lazily later (an async
        # session cannot load lazily).
        for product_id in ids:
            held = session.identity_map.get(identity_key(DataProduct, product_id))
            if held is not None:
                await session.refresh(held, ["governed_column_coverage", "updated_at"])
    return ids


async def refresh_for_elements(session: AsyncSession, element_ids: Iterable[str]) -> list[str]:
    """Recompute the products whose columns are bound to these elements; their ids."""
    ids = list(set(element_ids))
    if not ids:
        return []
    products = await session.scalars(
        select(ProductSchemaColumn.product_id)
        .where(ProductSchemaColumn.data_element_id.in_(ids))
        .distinct()
    )
    return await refresh_products(session, products)


async def refresh_for_representations(
    session: AsyncSession, representation_ids: Iterable[str]
) -> list[str]:
    ids = list(set(representation_ids))
    if not ids:
        return []
    elements = await session.scalars(
        select(DataElement.id).where(DataElement.representation_id.in_(ids))
    )
    return await refresh_for_elements(session, elements)
