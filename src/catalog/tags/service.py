"""Business rules of tags and product tags.

Tags form a forest: a tag has at most one parent, and a move that would put a tag under
itself or under one of its descendants is a 409 (moves are serialised so that two concurrent
moves cannot close a cycle between them). A tag with children cannot be deleted (409 naming
them); deleting a tag removes it from every product. A product carries a tag at most once;
`usage_count` is the number of products carrying the tag, exact under concurrency (see the
repository).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from catalog.cache import Cache
from catalog.cache.invalidation import TAGS as TAGS_SCOPE
from catalog.conditional.etags import check_if_match
from catalog.core.errors import Conflict, still_referenced
from catalog.core.time import utcnow
from catalog.db.models import DataProduct, Tag
from catalog.identity.principal import Actor
from catalog.kit.pagination import PageParams
from catalog.kit.rows import row_dict
from catalog.kit.service import DomainService, must_exist
from catalog.products.visibility import visible_product
from catalog.tags import schemas
from catalog.tags.repository import ProductTagRepository, TagRepository
from catalog.tags.tree import Forest, build_forest, render_tree_page


class TagService(DomainService):
    def __init__(self, session: AsyncSession, actor: Actor) -> None:
        super().__init__(session, actor)
        self.tags = TagRepository(session)
        self.product_tags = ProductTagRepository(session)

    # --- tags ----------------------------------------------------------------------------

    async def create(self, body: schemas.TagCreate) -> Tag:
        await self._name_free(self.tags, "tag", body.name)
        if body.parent_tag_id is not None:
            await self._parent(body.parent_tag_id)
        tag = await self.tags.add(
            Tag(**body.model_dump(), usage_count=0, created_by=self.actor.subject)
        )
        self.audit.record("create", "tag", tag.id, after=row_dict(tag))
        return tag

    async def get(self, tag_id: str) -> Tag:
        return must_exist(await self.tags.get(tag_id), "tag", tag_id)

    async def list_tags(self, page: PageParams, **filters: str | None) -> tuple[Sequence[Tag], int]:
        statement = self.tags.list_statement(**filters)
        return await self.tags.paginate(statement, page.limit, page.offset)

    async def tree(self, category: str | None) -> Forest:
        """Every tag (of `category`) nested under its parent, from one query."""
        return build_forest(await self.tags.all_tags(category))

    async def tree_json(self, category: str | None, cache: Cache) -> bytes:
        """The tree's JSON answer, cached until a tag or a product's tags change."""

        async def load() -> bytes:
            return render_tree_page(await self.tree(category))

        return await cache.fetch("tag_tree", TAGS_SCOPE, category or "", load)

    async def update(
        self, tag_id: str, body: schemas.TagUpdate, if_match: str | None = None
    ) -> Tag:
        tag = await self.get(tag_id)
        await check_if_match(self.session, if_match, tag, schemas.TagOut, "tag")
        changes = body.model_dump(exclude_unset=True)
        await self._name_free(self.tags, "tag", changes.get("name"), tag.name)
        new_parent = changes.get("parent_tag_id", tag.parent_tag_id)
        if new_parent != tag.parent_tag_id and new_parent is not None:
            await self._check_move(tag, new_parent)
        return await self._update("tag", tag, changes)

    async def delete(self, tag_id: str, if_match: str | None = None) -> None:
        tag = await self.get(tag_id)
        await check_if_match(self.session, if_match, tag, schemas.TagOut, "tag")
        children = await self.tags.children(tag_id)
        if children:
            raise still_referenced(
                f"tag {tag.name!r}", [("tag", child.id, child.name) for child in children]
            )
        # Its product tags go with it (ON DELETE CASCADE); `before.usage_count` says how many.
        # The search index finds the products it tagged by itself (search/projector.py).
        await self._delete("tag", tag)

    async def _parent(self, parent_id: str) -> Tag:
        return must_exist(await self.tags.get(parent_id), "parent tag", parent_id)

    async def _check_move(self, tag: Tag, parent_id: str) -> None:
        if parent_id == tag.id:
            raise Conflict(f"tag {tag.name!r} cannot be its own parent (cycle)")
        await self.tags.lock_hierarchy()
        parent = await self._parent(parent_id)
        if tag.id in await self.tags.ancestor_ids(parent.id):
            raise Conflict(
                f"moving tag {tag.name!r} under {parent.name!r} would make a cycle: "
                f"{parent.name!r} is a descendant of {tag.name!r}"
            )

    # --- product tags --------------------------------------------------------------------

    async def _product(self, product_id: str) -> DataProduct:
        return await visible_product(self.session, self.actor, product_id)

    async def list_product_tags(self, product_id: str, page: PageParams) -> tuple[list[Any], int]:
        await self._product(product_id)
        return await self.product_tags.page(product_id, page.limit, page.offset)

    async def tag_product(self, product_id: str, body: schemas.ProductTagIn) -> Any:
        product = await self._product(product_id)
        tag = await self.get(body.tag_id)
        values = body.model_dump() | {
            "product_id": product_id,
            "created_by": self.actor.subject,
            "created_at": utcnow(),
        }
        if not await self.product_tags.insert_if_absent(values):
            raise Conflict(f"data product {product.name!r} already has tag {tag.name!r}")
        await self.tags.change_usage(tag.id, +1)
        self.audit.record(
            "tag",
            "data_product",
            product_id,
            after={"tag_id": tag.id, "confidence": body.confidence, "source": body.source},
        )
        return await self.product_tags.one(product_id, tag.id)

    async def untag_product(self, product_id: str, tag_id: str) -> None:
        await self._product(product_id)
        removed = must_exist(
            await self.product_tags.delete_if_present(product_id, tag_id),
            f"tag of data product {product_id}",
            tag_id,
        )
        await self.tags.change_usage(tag_id, -1)
        self.audit.record("untag", "data_product", product_id, before={"tag_id": tag_id} | removed)
