"""Which products a caller may see: the one check every domain that hangs off a product runs.

Product logic, so it lives with products (it used to be a method of kit's domain-free service
base); usage, access and tags import it from here.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from catalog.core.errors import NotFound
from catalog.db.models import DataProduct
from catalog.identity.principal import Actor, sees


async def visible_product(session: AsyncSession, actor: Actor, product_id: str) -> DataProduct:
    """The product, when it exists and the caller may see it; 404 otherwise (a restricted
    product of another team is not even admitted to exist)."""
    product = await session.get(DataProduct, product_id)
    if product is None or not sees(actor, product.visibility, product.team):
        raise NotFound("data product", product_id)
    return product
