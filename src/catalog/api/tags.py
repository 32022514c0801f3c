"""HTTP routes of tags and of the tags on data products."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from catalog.conditional.etags import IfMatch
from catalog.core.error_schema import error_responses
from catalog.core.errors import Unprocessable
from catalog.identity.principal import Actor
from catalog.kit.pagination import Page, Paging
from catalog.kit.projection import Fields, page_of
from catalog.kit.schemas import Identifier, Name
from catalog.server.deps import ResourcesDep, Session
from catalog.server.retrying_route import RetryingRoute
from catalog.server.roles import Editor, Viewer
from catalog.tags import schemas
from catalog.tags.service import TagService

TAGS = "/api/tags"
TAG = TAGS + "/{tag_id}"
PRODUCT_TAGS = "/api/data-products/{product_id}/tags"
NOT_FOUND = error_responses(404)
WRITE_ERRORS = error_responses(404, 409)
CONDITIONAL_WRITE_ERRORS = error_responses(404, 409, 412)

router = APIRouter(tags=["tags"], route_class=RetryingRoute)


def service(session: Session, actor: Actor) -> TagService:
    return TagService(session, actor)


@router.post(TAGS, status_code=201, responses=WRITE_ERRORS)
async def create_tag(body: schemas.TagCreate, session: Session, actor: Editor) -> schemas.TagOut:
    """Create a tag (category `general` unless given), optionally under a parent tag."""
    return schemas.TagOut.model_validate(await service(session, actor).create(body))


@router.get(
    TAGS,
    response_model=Page[schemas.TagOut] | schemas.TagTree,
    responses=error_responses(422),
)
async def list_tags(
    session: Session,
    actor: Viewer,
    resources: ResourcesDep,
    page: Paging,
    fields: Fields,
    category: Annotated[Name | None, Query(description="Exact category")] = None,
    parent_tag_id: Annotated[
        Identifier | None, Query(description="Only the direct children of this tag")
    ] = None,
    name: Annotated[Name | None, Query(description="Case-insensitive substring")] = None,
    tree: Annotated[bool, Query(description="Answer the tags nested under their parents")] = False,
) -> Any:
    """A page of tags, or with `tree=true` the whole hierarchy.

    The tree holds every tag (of `category`, when given) exactly once: `items` are the roots
    (tags without a parent, or whose parent is in another category), each with its `children`
    nested recursively, sorted by name at every level. `limit` and `offset` are ignored for the
    tree (a hierarchy cut into pages would lose its shape): `total` is the number of tags in
    the tree and the answer reports `offset` 0 and `limit` equal to `total`. `name`,
    `parent_tag_id` and `fields` do not apply to the tree (422).
    """
    if tree:
        unsupported = [
            label
            for label, value in (
                ("name", name),
                ("parent_tag_id", parent_tag_id),
                ("fields", fields),
            )
            if value is not None
        ]
        if unsupported:
            raise Unprocessable(f"{', '.join(unsupported)} cannot be combined with tree=true")
        body = await service(session, actor).tree_json(category, resources.cache)
        return Response(body, media_type="application/json")
    rows, total = await service(session, actor).list_tags(
        page, category=category, parent_tag_id=parent_tag_id, name=name
    )
    return page_of(schemas.TagOut, rows, total, page, fields)


@router.get(TAG, responses=NOT_FOUND)
async def get_tag(tag_id: str, session: Session, actor: Viewer) -> schemas.TagOut:
    return schemas.TagOut.model_validate(await service(session, actor).get(tag_id))


@router.patch(TAG, responses=CONDITIONAL_WRITE_ERRORS)
async def update_tag(
    tag_id: str,
    body: schemas.TagUpdate,
    session: Session,
    actor: Editor,
    if_match: IfMatch = None,
) -> schemas.TagOut:
    """Rename, recategorise, describe or move a tag (`parent_tag_id: null` makes it a root).

    Moving a tag under itself or under one of its descendants is a 409 (a cycle).
    """
    return schemas.TagOut.model_validate(
        await service(session, actor).update(tag_id, body, if_match)
    )


@router.delete(TAG, status_code=204, responses=CONDITIONAL_WRITE_ERRORS)
async def delete_tag(
    tag_id: str, session: Session, actor: Editor, if_match: IfMatch = None
) -> Response:
    """Delete a tag without children (409 naming them otherwise); products lose the tag."""
    await service(session, actor).delete(tag_id, if_match)
    return Response(status_code=204)


# --- tags on data products -----------------------------------------------------------------


@router.get(PRODUCT_TAGS, response_model=Page[schemas.ProductTagOut], responses=NOT_FOUND)
async def list_product_tags(
    product_id: str, session: Session, actor: Viewer, page: Paging, fields: Fields
) -> Any:
    rows, total = await service(session, actor).list_product_tags(product_id, page)
    return page_of(schemas.ProductTagOut, rows, total, page, fields)


@router.post(PRODUCT_TAGS, status_code=201, responses=WRITE_ERRORS)
async def tag_product(
    product_id: str, body: schemas.ProductTagIn, session: Session, actor: Editor
) -> schemas.ProductTagOut:
    """Put a tag on a product (once: the same tag again is a 409); counts in `usage_count`."""
    row = await service(session, actor).tag_product(product_id, body)
    return schemas.ProductTagOut.model_validate(row)


@router.delete(PRODUCT_TAGS + "/{tag_id}", status_code=204, responses=NOT_FOUND)
async def untag_product(product_id: str, tag_id: str, session: Session, actor: Editor) -> Response:
    await service(session, actor).untag_product(product_id, tag_id)
    return Response(status_code=204)
