"""Browsing pages: the tag tree (`/ui/tags`) and the regulatory schemas (`/ui/regulatory`, one
page per schema with its versions, field-level changes and product mappings).

The data comes from `TagService` and `RegulatoryService` as the API's routes call them. A
mapping's product is looked up through `ProductService.get`, so a restricted product the
caller may not see is not named (the mapping itself is shown, as the API lists it).
"""

from __future__ import annotations

import functools
from typing import Annotated, Any, Literal, get_args

import orjson
from fastapi import APIRouter, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.core.errors import NotFound
from catalog.db.models import DataProduct
from catalog.identity.principal import Actor
from catalog.kit.pagination import MAX_OFFSET, PageParams
from catalog.kit.schemas import Name
from catalog.products.service import ProductService
from catalog.registry.service import RegistryService
from catalog.regulatory import schemas as regulatory_schemas
from catalog.regulatory.service import RegulatoryService
from catalog.regulatory.versions import compare_versions
from catalog.server.deps import Session
from catalog.server.roles import Viewer
from catalog.tags.schemas import TagOut
from catalog.tags.service import TagService
from catalog.tags.tree import Forest
from catalog.ui.web import PageLinks, UiRoute, render

router = APIRouter(route_class=UiRoute, include_in_schema=False)
PAGE_SIZE = 25
VERSIONS_SHOWN = 100
MAPPINGS_SHOWN = 100
VALUE_SHOWN = 200  # characters of a changed value shown in the changes table

# One step of the tag tree as the template writes it: a tag with children opens a nested list,
# a leaf is a whole item, "close" ends a nested list and the item holding it.
Step = tuple[Literal["open", "leaf", "close"], TagOut | None]


def tree_steps(forest: Forest) -> list[Step]:
    """The forest in document order, without recursion (a hierarchy may be deeper than
    Python or Jinja would recurse; see tags/tree.py)."""
    steps: list[Step] = []
    levels = [iter(forest.roots)]
    while levels:
        tag = next(levels[-1], None)
        if tag is None:
            levels.pop()
            if levels:
                steps.append(("close", None))
            continue
        children = forest.children.get(tag.id)
        if children:
            steps.append(("open", tag))
            levels.append(iter(children))
        else:
            steps.append(("leaf", tag))
    return steps


@router.get("/ui/tags")
async def tags_page(
    request: Request, session: Session, actor: Viewer, category: Name | None = None
) -> Response:
    tags = TagService(session, actor)
    everything = await tags.tree(None)
    forest = await tags.tree(category) if category else everything
    categories = sorted(
        {tag.category for tag in everything.roots}
        | {tag.category for kids in everything.children.values() for tag in kids}
    )
    return render(
        request,
        "tags.html",
        category=category,
        categories=categories,
        steps=tree_steps(forest),
        size=forest.size,
    )


@router.get("/ui/regulatory")
async def regulatory_page(
    request: Request,
    session: Session,
    actor: Viewer,
    regulatory_type: Annotated[regulatory_schemas.RegulatoryType | None, Query()] = None,
    status: regulatory_schemas.SchemaStatus | None = None,
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
) -> Response:
    link = PageLinks("/ui/regulatory", {"regulatory_type": regulatory_type, "status": status})

    rows, total = await RegulatoryService(session, actor).list_schemas(
        PageParams(limit=PAGE_SIZE, offset=offset), regulatory_type, status
    )
    return render(
        request,
        "regulatory.html",
        regulatory_type=regulatory_type,
        status_filter=status,
        statuses=get_args(regulatory_schemas.SchemaStatus),
        rows=rows,
        total=total,
        offset=offset,
        limit=PAGE_SIZE,
        link=link,
    )


@router.get("/ui/regulatory/{schema_id}")
async def schema_page(
    request: Request, session: Session, actor: Viewer, schema_id: str
) -> Response:
    regulatory = RegulatoryService(session, actor)
    schema, previous, changes = await regulatory.changes_of(schema_id)
    versions, _ = await regulatory.list_schemas(
        PageParams(limit=VERSIONS_SHOWN, offset=0), schema.regulatory_type, None
    )
    order = functools.cmp_to_key(compare_versions)
    mappings, mapping_total = await regulatory.list_mappings(
        schema.id, PageParams(limit=MAPPINGS_SHOWN, offset=0), None, None
    )
    return render(
        request,
        "regulatory_schema.html",
        schema=schema,
        previous=previous,
        changes=changes,
        breaking=sum(1 for change in changes if change.breaking),
        versions=sorted(versions, key=lambda v: order(v.version)),
        mappings=mappings,
        mapping_total=mapping_total,
        products=await _visible_products(session, actor, {m.product_id for m in mappings}),
        elements=await RegistryService(session, actor).elements.by_ids(
            {m.data_element_id for m in mappings if m.data_element_id}
        ),
        shown=_shown,
    )


async def _visible_products(
    session: AsyncSession, actor: Actor, ids: set[str]
) -> dict[str, DataProduct]:
    """The products among `ids` the caller may see, by id (the rest are not named)."""
    products = ProductService(session, actor)
    found: dict[str, DataProduct] = {}
    for product_id in sorted(ids):
        try:
            found[product_id] = await products.get(product_id)
        except NotFound:
            continue
    return found


def _shown(value: Any) -> str:
    """A changed value as compact JSON, cut to `VALUE_SHOWN` characters."""
    if value is None:
        return "—"
    text = orjson.dumps(value).decode()
    return text if len(text) <= VALUE_SHOWN else text[:VALUE_SHOWN] + "…"
