"""All SQL of tags and product tags.

`usage_count` is kept exact without read-modify-write: a product tag is inserted with
`ON CONFLICT DO NOTHING RETURNING` (or deleted with `RETURNING`) and the counter moves by one
in a single `UPDATE ... SET usage_count = usage_count ± 1` only when a row really changed, in
the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, delete, func, literal, select, update

from catalog.changes.recorder import touch
from catalog.changes.refs import NodeRef
from catalog.db.models import ProductTag, Tag
from catalog.kit.repository import Repository, contains

# Key of the PostgreSQL advisory lock that serialises moves in the tag hierarchy.
HIERARCHY_LOCK_KEY = 0x7A6_7A6


class TagRepository(Repository[Tag]):
    model = Tag

    def list_statement(
        self,
        *,
        category: str | None = None,
        parent_tag_id: str | None = None,
        name: str | None = None,
    ) -> Select[Any]:
        statement = select(Tag).order_by(Tag.name, Tag.id)
        if category:
            statement = statement.where(Tag.category == category)
        if parent_tag_id:
            statement = statement.where(Tag.parent_tag_id == parent_tag_id)
        if name:
            statement = statement.where(contains(Tag.name, name))
        return statement

    async def all_tags(self, category: str | None = None) -> Sequence[Tag]:
        """Every tag (of one category) in one statement, for building the tree."""
        return (await self.session.scalars(self.list_statement(category=category))).all()

    async def children(self, tag_id: str) -> Sequence[Any]:
        rows = await self.session.execute(
            select(Tag.id, Tag.name).where(Tag.parent_tag_id == tag_id).order_by(Tag.name)
        )
        return rows.all()

    async def ancestor_ids(self, tag_id: str) -> set[str]:
        """`tag_id` and every tag above it, in one recursive query (cycle-safe via UNION)."""
        chain = (
            select(Tag.id.label("id"), Tag.parent_tag_id.label("parent_id"))
            .where(Tag.id == tag_id)
            .cte("chain", recursive=True)
        )
        chain = chain.union(
            select(Tag.id, Tag.parent_tag_id).join(chain, Tag.id == chain.c.parent_id)
        )
        return set(await self.session.scalars(select(chain.c.id)))

    async def lock_hierarchy(self) -> None:
        """Serialise hierarchy moves so two concurrent moves cannot close a cycle together.

        PostgreSQL: a transaction-scoped advisory lock (moves are rare; reads never wait).
        SQLite: nothing to do, write transactions already run one at a time (BEGIN IMMEDIATE).
        """
        if self.dialect == "postgresql":
            await self.session.execute(
                select(func.pg_advisory_xact_lock(literal(HIERARCHY_LOCK_KEY)))
            )

    async def change_usage(self, tag_id: str, delta: int) -> None:
        # updated_at stays: being used more or less is not an edit of the tag.
        await self.session.execute(
            update(Tag)
            .where(Tag.id == tag_id)
            .values(usage_count=Tag.usage_count + delta, updated_at=Tag.updated_at)
        )

    async def usage_count(self, tag_id: str) -> int:
        return int(await self.session.scalar(select(Tag.usage_count).where(Tag.id == tag_id)) or 0)


class ProductTagRepository(Repository[ProductTag]):
    model = ProductTag

    def list_statement(self, product_id: str) -> Any:
        return (
            select(
                ProductTag.product_id,
                ProductTag.tag_id,
                Tag.name.label("tag_name"),
                Tag.category.label("tag_category"),
                ProductTag.confidence,
                ProductTag.source,
                ProductTag.created_by,
                ProductTag.created_at,
            )
            .join(Tag, Tag.id == ProductTag.tag_id)
            .where(ProductTag.product_id == product_id)
            .order_by(Tag.name, Tag.id)
        )

    async def page(self, product_id: str, limit: int, offset: int) -> tuple[list[Any], int]:
        statement = self.list_statement(product_id)
        total = await self.count(statement)
        if total == 0 or offset >= total:
            return [], total
        rows = (await self.session.execute(statement.limit(limit).offset(offset))).all()
        return list(rows), total

    async def one(self, product_id: str, tag_id: str) -> Any:
        statement = self.list_statement(product_id).where(ProductTag.tag_id == tag_id)
        return (await self.session.execute(statement)).first()

    async def insert_if_absent(self, values: dict[str, Any]) -> bool:
        """Insert the product tag; False when that product already had that tag."""
        statement = (
            self.insert(ProductTag)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["product_id", "tag_id"])
            .returning(ProductTag.tag_id)
        )
        touch(self.session, NodeRef("DataProduct", values["product_id"]))
        return (await self.session.execute(statement)).first() is not None

    async def delete_if_present(self, product_id: str, tag_id: str) -> dict[str, Any] | None:
        """Delete the product tag; its former values, or None when there was none."""
        statement = (
            delete(ProductTag)
            .where(ProductTag.product_id == product_id, ProductTag.tag_id == tag_id)
            .returning(ProductTag.confidence, ProductTag.source, ProductTag.created_by)
        )
        row = (await self.session.execute(statement)).first()
        touch(self.session, NodeRef("DataProduct", product_id))
        return dict(row._mapping) if row is not None else None
