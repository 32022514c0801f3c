"""HTTP routes of data products: CRUD, bulk, versions, dataset schemas, member elements,
lineage."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response

from catalog.api.graph import for_request
from catalog.conditional.etags import IfMatch
from catalog.core.error_schema import error_responses
from catalog.identity.principal import Actor
from catalog.kit.bulk import BulkOut, bulk_answer
from catalog.kit.pagination import Page, Paging
from catalog.kit.projection import Fields, page_of
from catalog.kit.schemas import Name
from catalog.products import schemas
from catalog.products.column_lineage import ColumnLineageService
from catalog.products.dataset_schema import SchemaService
from catalog.products.service import ProductService
from catalog.server.deps import BulkItems, ResourcesDep, Session
from catalog.server.retrying_route import RetryingRoute
from catalog.server.roles import Editor, Steward, Viewer

PRODUCTS = "/api/data-products"
PRODUCT = PRODUCTS + "/{product_id}"
NOT_FOUND = error_responses(404)
WRITE_ERRORS = error_responses(404, 409)
CONDITIONAL_WRITE_ERRORS = error_responses(404, 409, 412)

router = APIRouter(tags=["data products"], route_class=RetryingRoute)


def service(session: Session, actor: Actor) -> ProductService:
    return ProductService(session, actor)


Filter = Annotated[Name | None, Query()]


@router.post(PRODUCTS, status_code=201, responses=error_responses(409))
async def create_product(
    body: schemas.ProductCreate, session: Session, actor: Editor
) -> schemas.ProductOut:
    return schemas.ProductOut.model_validate(await service(session, actor).create(body))


@router.get(PRODUCTS, response_model=Page[schemas.ProductOut])
async def list_products(
    session: Session,
    actor: Viewer,
    page: Paging,
    fields: Fields,
    name: Annotated[Name | None, Query(description="Case-insensitive substring")] = None,
    team: Filter = None,
    category: Filter = None,
    owner: Filter = None,
    status: schemas.ProductStatus | None = None,
    visibility: schemas.Visibility | None = None,
    source_ref: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=500,
            description="Exactly: the product of a crawled table or OpenLineage dataset",
        ),
    ] = None,
) -> Any:
    rows, total = await service(session, actor).list_products(
        page,
        source_ref=source_ref,
        name=name,
        team=team,
        category=category,
        owner=owner,
        status=status,
        visibility=visibility,
    )
    return page_of(schemas.ProductOut, rows, total, page, fields)


@router.post(PRODUCTS + "/bulk", responses=error_responses(413), response_model_exclude_none=True)
async def bulk_create_products(items: BulkItems, session: Session, actor: Editor) -> BulkOut:
    """Create up to 1000 products in one transaction; the answer reports each item."""
    return bulk_answer(await service(session, actor).bulk_create(items))


@router.get(PRODUCT, response_model=schemas.ProductOut, responses=NOT_FOUND)
async def get_product(
    product_id: str, session: Session, actor: Viewer, resources: ResourcesDep
) -> Response:
    body = await service(session, actor).get_json(product_id, resources.cache)
    return Response(body, media_type="application/json")


@router.patch(PRODUCT, responses=CONDITIONAL_WRITE_ERRORS)
async def update_product(
    product_id: str,
    body: schemas.ProductUpdate,
    session: Session,
    actor: Editor,
    if_match: IfMatch = None,
) -> schemas.ProductOut:
    """Change fields; `status` moves draft -> published -> deprecated (-> published)."""
    product = await service(session, actor).update(product_id, body, if_match)
    return schemas.ProductOut.model_validate(product)


@router.delete(PRODUCT, status_code=204, responses=error_responses(404, 412))
async def delete_product(
    product_id: str, session: Session, actor: Editor, if_match: IfMatch = None
) -> Response:
    await service(session, actor).delete(product_id, if_match)
    return Response(status_code=204)


# --- versions ------------------------------------------------------------------------------


@router.post(PRODUCT + "/versions", status_code=201, responses=WRITE_ERRORS)
async def create_version(
    product_id: str, body: schemas.VersionCreate, session: Session, actor: Editor
) -> schemas.VersionOut:
    """Freeze the product as it stands under a semantic version (immutable; duplicates 409)."""
    version = await service(session, actor).create_version(product_id, body)
    return schemas.VersionOut.model_validate(version)


@router.get(PRODUCT + "/versions", responses=NOT_FOUND)
async def list_versions(
    product_id: str,
    session: Session,
    actor: Viewer,
    order: Literal["asc", "desc"] = Query("desc", description="By semver precedence"),
) -> schemas.VersionList:
    versions = await service(session, actor).list_versions(product_id, order)
    return schemas.VersionList(
        items=[schemas.VersionOut.model_validate(v) for v in versions],
        total=len(versions),
        order=order,
    )


@router.get(PRODUCT + "/versions/{version}", responses=NOT_FOUND)
async def get_version(
    product_id: str, version: str, session: Session, actor: Viewer
) -> schemas.VersionOut:
    """One version; `latest` is the newest stable, non-deprecated one."""
    found = await service(session, actor).get_version(product_id, version)
    return schemas.VersionOut.model_validate(found)


@router.post(PRODUCT + "/versions/{version}/deprecate", responses=WRITE_ERRORS)
async def deprecate_version(
    product_id: str,
    version: str,
    body: schemas.VersionDeprecate,
    session: Session,
    actor: Steward,
) -> schemas.VersionOut:
    found = await service(session, actor).deprecate_version(product_id, version, body.reason)
    return schemas.VersionOut.model_validate(found)


# --- dataset schema ------------------------------------------------------------------------


@router.get(PRODUCT + "/schema", responses=NOT_FOUND)
async def get_schema(
    product_id: str,
    session: Session,
    actor: Viewer,
    version: Annotated[
        str | None,
        Query(max_length=100, description="A version (or `latest`) whose snapshot to read"),
    ] = None,
) -> schemas.SchemaOut:
    """The current dataset schema, or the one frozen in `version` (404 when it has none)."""
    return await SchemaService(session, actor).get_schema(product_id, version)


@router.put(PRODUCT + "/schema", responses=WRITE_ERRORS)
async def put_schema(
    product_id: str, body: schemas.SchemaPut, session: Session, actor: Editor
) -> schemas.SchemaVersionOut:
    """Replace the dataset schema: a new version holding it, with the field-level changes
    since the current one and whether any is breaking. The same columns again are a 409."""
    return await SchemaService(session, actor).put_schema(product_id, body)


@router.get(PRODUCT + "/schema/columns/{column}/lineage", responses=NOT_FOUND)
async def get_column_lineage(
    product_id: str,
    column: Annotated[str, Path(max_length=200)],
    session: Session,
    actor: Viewer,
    resources: ResourcesDep,
    direction: schemas.Direction = "both",
    depth: int = Query(3, ge=1, le=50, description="Levels to follow (capped by settings)"),
) -> schemas.ColumnLineageOut:
    """The columns this column is computed from (upstream), those computed from it
    (downstream) or both, from OpenLineage's column lineage; `truncated` says more exists."""
    settings = resources.settings
    return await ColumnLineageService(session, actor).column_lineage(
        product_id,
        column,
        direction,
        min(depth, settings.lineage_max_depth),
        settings.lineage_max_nodes,
    )


# --- member elements -----------------------------------------------------------------------


@router.get(PRODUCT + "/elements", response_model=Page[schemas.MemberOut], responses=NOT_FOUND)
async def list_members(
    product_id: str, session: Session, actor: Viewer, page: Paging, fields: Fields
) -> Any:
    rows, total = await service(session, actor).list_members(product_id, page)
    return page_of(schemas.MemberOut, rows, total, page, fields)


@router.post(PRODUCT + "/elements", status_code=201, responses=WRITE_ERRORS)
async def add_member(
    product_id: str, body: schemas.MemberIn, session: Session, actor: Editor
) -> schemas.MemberOut:
    row = await service(session, actor).add_member(product_id, body)
    return schemas.MemberOut.model_validate(row)


@router.delete(PRODUCT + "/elements/{element_id}", status_code=204, responses=NOT_FOUND)
async def remove_member(
    product_id: str, element_id: str, session: Session, actor: Editor
) -> Response:
    await service(session, actor).remove_member(product_id, element_id)
    return Response(status_code=204)


# --- lineage -------------------------------------------------------------------------------


@router.get(PRODUCT + "/lineage", responses=error_responses(404, 503))
async def get_lineage(
    product_id: str,
    session: Session,
    actor: Viewer,
    resources: ResourcesDep,
    direction: schemas.Direction = "both",
    depth: int = Query(3, ge=1, le=50, description="Levels to follow (capped by settings)"),
) -> schemas.LineageOut:
    """Products and elements upstream, downstream or both, from the configured graph store
    (CATALOG_GRAPH_STORE); `truncated` says more exists."""
    settings = resources.settings
    return await for_request(session, actor, resources).product_lineage(
        product_id, direction, min(depth, settings.lineage_max_depth), settings.lineage_max_nodes
    )


@router.post(PRODUCT + "/lineage", status_code=201, responses=WRITE_ERRORS)
async def add_lineage(
    product_id: str, body: schemas.LineageIn, session: Session, actor: Editor
) -> schemas.LineageEdgeOut:
    """Record that `upstream_id` (a product, or an element) feeds this product."""
    edge = await service(session, actor).add_lineage(product_id, body)
    return schemas.LineageEdgeOut.model_validate(edge)


@router.delete(PRODUCT + "/lineage/{upstream_id}", status_code=204, responses=NOT_FOUND)
async def remove_lineage(
    product_id: str,
    upstream_id: str,
    session: Session,
    actor: Editor,
    upstream_type: schemas.NodeType = "product",
) -> Response:
    await service(session, actor).remove_lineage(product_id, upstream_type, upstream_id)
    return Response(status_code=204)
