"""HTTP routes of the ISO/IEC 11179 registry: each parses, declares its role, calls the service."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from catalog.conditional.etags import IfMatch
from catalog.core.error_schema import error_responses
from catalog.identity.principal import Actor
from catalog.kit.bulk import BulkOut, bulk_answer
from catalog.kit.pagination import Page, Paging
from catalog.kit.projection import Fields, page_of
from catalog.kit.schemas import Name
from catalog.registry import schemas
from catalog.registry.service import RegistryService
from catalog.server.deps import BulkItems, ResourcesDep, Session
from catalog.server.retrying_route import RetryingRoute
from catalog.server.roles import Editor, Steward, Viewer

NOT_FOUND = error_responses(404)
WRITE_ERRORS = error_responses(404, 409)
CONDITIONAL_WRITE_ERRORS = error_responses(404, 409, 412)

router = APIRouter(tags=["registry"], route_class=RetryingRoute)


def service(session: Session, actor: Actor) -> RegistryService:
    return RegistryService(session, actor)


NameFilter = Annotated[Name | None, Query(description="Case-insensitive substring of the name")]

# --- data element concepts -----------------------------------------------------------------

CONCEPTS = "/api/data-element-concepts"


@router.post(CONCEPTS, status_code=201, responses=error_responses(409))
async def create_concept(
    body: schemas.ConceptCreate, session: Session, actor: Editor
) -> schemas.ConceptOut:
    return schemas.ConceptOut.model_validate(await service(session, actor).create_concept(body))


@router.get(CONCEPTS, response_model=Page[schemas.ConceptOut])
async def list_concepts(
    session: Session, actor: Viewer, page: Paging, fields: Fields, name: NameFilter = None
) -> Any:
    rows, total = await service(session, actor).list_concepts(page, name)
    return page_of(schemas.ConceptOut, rows, total, page, fields)


@router.get(CONCEPTS + "/{concept_id}", responses=NOT_FOUND)
async def get_concept(concept_id: str, session: Session, actor: Viewer) -> schemas.ConceptOut:
    return schemas.ConceptOut.model_validate(await service(session, actor).get_concept(concept_id))


@router.patch(CONCEPTS + "/{concept_id}", responses=CONDITIONAL_WRITE_ERRORS)
async def update_concept(
    concept_id: str,
    body: schemas.ConceptUpdate,
    session: Session,
    actor: Editor,
    if_match: IfMatch = None,
) -> schemas.ConceptOut:
    concept = await service(session, actor).update_concept(concept_id, body, if_match)
    return schemas.ConceptOut.model_validate(concept)


@router.delete(CONCEPTS + "/{concept_id}", status_code=204, responses=CONDITIONAL_WRITE_ERRORS)
async def delete_concept(
    concept_id: str, session: Session, actor: Editor, if_match: IfMatch = None
) -> Response:
    await service(session, actor).delete_concept(concept_id, if_match)
    return Response(status_code=204)


# --- value domains -------------------------------------------------------------------------

DOMAINS = "/api/value-domains"


@router.post(DOMAINS, status_code=201, responses=error_responses(409))
async def create_value_domain(
    body: schemas.ValueDomainCreate, session: Session, actor: Editor
) -> schemas.ValueDomainOut:
    domain = await service(session, actor).create_value_domain(body)
    return schemas.ValueDomainOut.model_validate(domain)


@router.get(DOMAINS, response_model=Page[schemas.ValueDomainSummary])
async def list_value_domains(
    session: Session,
    actor: Viewer,
    page: Paging,
    fields: Fields,
    name: NameFilter = None,
    type: schemas.ValueDomainType | None = None,
) -> Any:
    rows, total = await service(session, actor).list_value_domains(page, name, type)
    return page_of(schemas.ValueDomainSummary, rows, total, page, fields)


@router.get(DOMAINS + "/{domain_id}", responses=NOT_FOUND)
async def get_value_domain(
    domain_id: str, session: Session, actor: Viewer
) -> schemas.ValueDomainOut:
    domain = await service(session, actor).get_value_domain(domain_id)
    return schemas.ValueDomainOut.model_validate(domain)


@router.patch(DOMAINS + "/{domain_id}", responses=CONDITIONAL_WRITE_ERRORS)
async def update_value_domain(
    domain_id: str,
    body: schemas.ValueDomainUpdate,
    session: Session,
    actor: Editor,
    if_match: IfMatch = None,
) -> schemas.ValueDomainOut:
    domain = await service(session, actor).update_value_domain(domain_id, body, if_match)
    return schemas.ValueDomainOut.model_validate(domain)


@router.delete(DOMAINS + "/{domain_id}", status_code=204, responses=CONDITIONAL_WRITE_ERRORS)
async def delete_value_domain(
    domain_id: str, session: Session, actor: Editor, if_match: IfMatch = None
) -> Response:
    await service(session, actor).delete_value_domain(domain_id, if_match)
    return Response(status_code=204)


@router.post(DOMAINS + "/{domain_id}/validate", responses=NOT_FOUND)
async def validate_value(
    domain_id: str, body: schemas.ValidateIn, session: Session, actor: Viewer
) -> schemas.ValidateOut:
    """Check a value against the domain: `valid`, and when not, `reason` and `constraint`."""
    return await service(session, actor).validate(domain_id, body.value)


# --- representations -----------------------------------------------------------------------

REPRESENTATIONS = "/api/representations"


@router.post(REPRESENTATIONS, status_code=201, responses=WRITE_ERRORS)
async def create_representation(
    body: schemas.RepresentationCreate, session: Session, actor: Editor
) -> schemas.RepresentationOut:
    representation = await service(session, actor).create_representation(body)
    return schemas.RepresentationOut.model_validate(representation)


@router.get(REPRESENTATIONS, response_model=Page[schemas.RepresentationOut])
async def list_representations(
    session: Session,
    actor: Viewer,
    page: Paging,
    fields: Fields,
    name: NameFilter = None,
    data_type: schemas.DataType | None = None,
) -> Any:
    rows, total = await service(session, actor).list_representations(page, name, data_type)
    return page_of(schemas.RepresentationOut, rows, total, page, fields)


@router.get(REPRESENTATIONS + "/{representation_id}", responses=NOT_FOUND)
async def get_representation(
    representation_id: str, session: Session, actor: Viewer
) -> schemas.RepresentationOut:
    representation = await service(session, actor).get_representation(representation_id)
    return schemas.RepresentationOut.model_validate(representation)


@router.patch(REPRESENTATIONS + "/{representation_id}", responses=CONDITIONAL_WRITE_ERRORS)
async def update_representation(
    representation_id: str,
    body: schemas.RepresentationUpdate,
    session: Session,
    actor: Editor,
    if_match: IfMatch = None,
) -> schemas.RepresentationOut:
    representation = await service(session, actor).update_representation(
        representation_id, body, if_match
    )
    return schemas.RepresentationOut.model_validate(representation)


@router.delete(
    REPRESENTATIONS + "/{representation_id}", status_code=204, responses=CONDITIONAL_WRITE_ERRORS
)
async def delete_representation(
    representation_id: str, session: Session, actor: Editor, if_match: IfMatch = None
) -> Response:
    await service(session, actor).delete_representation(representation_id, if_match)
    return Response(status_code=204)


# --- data elements -------------------------------------------------------------------------

ELEMENTS = "/api/data-elements"


@router.post(ELEMENTS, status_code=201, responses=WRITE_ERRORS)
async def create_element(
    body: schemas.DataElementCreate, session: Session, actor: Editor
) -> schemas.DataElementOut:
    """Register a data element; name its concept and representation by id or inline."""
    element = await service(session, actor).create_element(body)
    return schemas.DataElementOut.model_validate(element)


@router.get(ELEMENTS, response_model=Page[schemas.DataElementOut])
async def list_elements(
    session: Session,
    actor: Viewer,
    page: Paging,
    fields: Fields,
    name: NameFilter = None,
    status: schemas.RegistrationStatus | None = None,
    data_element_concept_id: str | None = None,
    representation_id: str | None = None,
    steward: str | None = Query(None, max_length=200),
    identifier: str | None = Query(None, max_length=500, description="Exact registry identifier"),
) -> Any:
    rows, total = await service(session, actor).list_elements(
        page,
        name=name,
        status=status,
        concept_id=data_element_concept_id,
        representation_id=representation_id,
        steward=steward,
        identifier=identifier,
    )
    return page_of(schemas.DataElementOut, rows, total, page, fields)


@router.post(ELEMENTS + "/bulk", responses=error_responses(413), response_model_exclude_none=True)
async def bulk_create_elements(items: BulkItems, session: Session, actor: Editor) -> BulkOut:
    """Register up to 1000 elements in one transaction; the answer reports each item.

    Good items are created together; a bad item (invalid, unknown reference, duplicate)
    gets `status: "error"` with its `code` and reason and writes nothing.
    """
    return bulk_answer(await service(session, actor).bulk_create_elements(items))


@router.get(ELEMENTS + "/{element_id}", response_model=schemas.DataElementOut, responses=NOT_FOUND)
async def get_element(
    element_id: str, session: Session, actor: Viewer, resources: ResourcesDep
) -> Response:
    """A data element by its id, or by its registry identifier when that has no `/` in it
    (identifiers that are URIs: `GET /api/data-elements?identifier=...`)."""
    body = await service(session, actor).get_element_json(element_id, resources.cache)
    return Response(body, media_type="application/json")


@router.patch(ELEMENTS + "/{element_id}", responses=CONDITIONAL_WRITE_ERRORS)
async def update_element(
    element_id: str,
    body: schemas.DataElementUpdate,
    session: Session,
    actor: Editor,
    if_match: IfMatch = None,
) -> schemas.DataElementOut:
    element = await service(session, actor).update_element(element_id, body, if_match)
    return schemas.DataElementOut.model_validate(element)


@router.delete(ELEMENTS + "/{element_id}", status_code=204, responses=CONDITIONAL_WRITE_ERRORS)
async def delete_element(
    element_id: str, session: Session, actor: Editor, if_match: IfMatch = None
) -> Response:
    await service(session, actor).delete_element(element_id, if_match)
    return Response(status_code=204)


def _transition_route(action: str) -> None:
    async def transition(
        element_id: str, session: Session, actor: Steward
    ) -> schemas.DataElementOut:
        element = await service(session, actor).transition_element(element_id, action)
        return schemas.DataElementOut.model_validate(element)

    transition.__name__ = f"{action}_element"
    transition.__doc__ = f"Lifecycle action `{action}` (steward); an illegal transition is 409."
    router.post(ELEMENTS + "/{element_id}/" + action, responses=WRITE_ERRORS)(transition)


for _action in ("publish", "deprecate", "archive"):
    _transition_route(_action)
