"""HTTP routes of regulatory schemas: versions, status, field-level changes, product mappings."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from catalog.core.error_schema import error_responses
from catalog.identity.principal import Actor
from catalog.kit.pagination import Page, Paging
from catalog.kit.projection import Fields, page_of
from catalog.regulatory import schemas
from catalog.regulatory.service import RegulatoryService
from catalog.server.deps import Session
from catalog.server.retrying_route import RetryingRoute
from catalog.server.roles import Editor, Steward, Viewer

SCHEMAS = "/api/regulatory-schemas"
SCHEMA = SCHEMAS + "/{schema_id}"
MAPPINGS = SCHEMA + "/product-mappings"
NOT_FOUND = error_responses(404)
WRITE_ERRORS = error_responses(404, 409)

router = APIRouter(tags=["regulatory"], route_class=RetryingRoute)


def service(session: Session, actor: Actor) -> RegulatoryService:
    return RegulatoryService(session, actor)


@router.post(SCHEMAS, status_code=201, responses=error_responses(409))
async def create_schema(
    body: schemas.SchemaCreate, session: Session, actor: Steward
) -> schemas.SchemaOut:
    """Register a version of a regulatory spec (steward); its changes from the previous
    version of the type are computed and stored. A duplicate type + version is a 409."""
    return schemas.SchemaOut.model_validate(await service(session, actor).create_schema(body))


@router.get(SCHEMAS, response_model=Page[schemas.SchemaOut])
async def list_schemas(
    session: Session,
    actor: Viewer,
    page: Paging,
    fields: Fields,
    regulatory_type: Annotated[schemas.RegulatoryType | None, Query()] = None,
    status: schemas.SchemaStatus | None = None,
) -> Any:
    rows, total = await service(session, actor).list_schemas(page, regulatory_type, status)
    return page_of(schemas.SchemaOut, rows, total, page, fields)


@router.get(SCHEMA, responses=NOT_FOUND)
async def get_schema(schema_id: str, session: Session, actor: Viewer) -> schemas.SchemaOut:
    return schemas.SchemaOut.model_validate(await service(session, actor).get_schema(schema_id))


@router.patch(SCHEMA, responses=WRITE_ERRORS)
async def change_status(
    schema_id: str, body: schemas.SchemaStatusUpdate, session: Session, actor: Steward
) -> schemas.SchemaOut:
    """Move the status draft -> approved -> deprecated (steward); any other move is a 409."""
    schema = await service(session, actor).change_status(schema_id, body.status)
    return schemas.SchemaOut.model_validate(schema)


@router.get(SCHEMA + "/changes", responses=NOT_FOUND)
async def get_changes(schema_id: str, session: Session, actor: Viewer) -> schemas.ChangesOut:
    """Field-level changes from the previous version of the same type, and how many break."""
    schema, previous, changes = await service(session, actor).changes_of(schema_id)
    return schemas.ChangesOut(
        schema_id=schema.id,
        previous_schema_id=previous[0] if previous else None,
        previous_version=previous[1] if previous else None,
        changes=[schemas.ChangeOut.model_validate(change) for change in changes],
        breaking=sum(1 for change in changes if change.breaking),
    )


@router.post(MAPPINGS, status_code=201, responses=WRITE_ERRORS)
async def create_mapping(
    schema_id: str, body: schemas.MappingCreate, session: Session, actor: Editor
) -> schemas.MappingOut:
    """Map a field of the schema to a product (and optionally one data element)."""
    mapping = await service(session, actor).create_mapping(schema_id, body)
    return schemas.MappingOut.model_validate(mapping)


@router.get(MAPPINGS, response_model=Page[schemas.MappingOut], responses=NOT_FOUND)
async def list_mappings(
    schema_id: str,
    session: Session,
    actor: Viewer,
    page: Paging,
    fields: Fields,
    product_id: Annotated[str | None, Query(max_length=500)] = None,
    field_path: Annotated[schemas.FieldPath | None, Query()] = None,
) -> Any:
    rows, total = await service(session, actor).list_mappings(
        schema_id, page, product_id, field_path
    )
    return page_of(schemas.MappingOut, rows, total, page, fields)


@router.delete(MAPPINGS + "/{mapping_id}", status_code=204, responses=NOT_FOUND)
async def delete_mapping(
    schema_id: str, mapping_id: str, session: Session, actor: Editor
) -> Response:
    await service(session, actor).delete_mapping(schema_id, mapping_id)
    return Response(status_code=204)
