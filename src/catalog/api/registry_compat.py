"""Routes for clients of the upstream Go service: `/catalog/data-elements` and its bulk form.

Upstream shapes are kept: elements are flat maps (`identifier`, `name`,
`data_element_concept_id`, `representation_id`, `definition`, ...), the bulk call takes a bare
JSON array and answers `{"created", "errors", "results", "failures"}`. Upstream concept and
representation ids were free strings (often URIs) with nothing behind them; here such a
string is the id of a registered concept or representation, or else the *name* of one, which
is reused when it exists and created otherwise (a concept gets object class = the string and
property "unspecified"; a representation gets data type "string").
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body
from pydantic import ValidationError

from catalog.core.error_schema import error_responses
from catalog.core.errors import PayloadTooLarge, Unprocessable
from catalog.kit.bulk import ItemOutcome, validation_summary
from catalog.kit.pagination import Paging
from catalog.kit.schemas import (
    Identifier,
    JSONObject,
    LongText,
    Name,
    RequestModel,
    ResponseModel,
    StoredMetadata,
)
from catalog.registry import schemas
from catalog.registry.repository import (
    ConceptRepository,
    DataElementRepository,
    RepresentationRepository,
)
from catalog.registry.service import RegistryService
from catalog.server.deps import Session, SettingsDep
from catalog.server.retrying_route import RetryingRoute
from catalog.server.roles import Editor, Viewer

router = APIRouter(tags=["compatibility"], route_class=RetryingRoute)
BASE = "/catalog/data-elements"


class UpstreamElementIn(RequestModel):
    name: Name
    data_element_concept_id: Identifier
    representation_id: Identifier
    definition: LongText = ""
    identifier: Identifier | None = None
    metadata: JSONObject = {}


class UpstreamElement(ResponseModel):
    id: str
    identifier: str
    name: str
    data_element_concept_id: str | None
    representation_id: str | None
    definition: str
    version: int
    created_at: datetime
    updated_at: datetime
    registration_status: str
    steward: str | None
    source: str | None
    metadata: StoredMetadata


class UpstreamList(ResponseModel):
    data_elements: list[UpstreamElement]
    count: int
    total: int
    limit: int
    offset: int


class UpstreamFailure(ResponseModel):
    index: int
    code: int
    error: str


class UpstreamBulkOut(ResponseModel):
    created: int
    errors: int
    results: list[UpstreamElement]
    failures: list[UpstreamFailure]


async def _to_native(
    session: Session, items: list[UpstreamElementIn]
) -> list[schemas.DataElementCreate | Unprocessable]:
    """Upstream reference strings -> ids where registered, inline-by-name otherwise."""
    concept_refs = {i.data_element_concept_id for i in items}
    representation_refs = {i.representation_id for i in items}
    known_concepts = await ConceptRepository(session).existing_ids(concept_refs)
    known_representations = await RepresentationRepository(session).existing_ids(
        representation_refs
    )
    native: list[schemas.DataElementCreate | Unprocessable] = []
    for item in items:
        fields: dict[str, Any] = {
            "name": item.name,
            "definition": item.definition,
            "identifier": item.identifier,
            "metadata": item.metadata,
        }
        concept = item.data_element_concept_id
        if concept in known_concepts:
            fields["data_element_concept_id"] = concept
        else:
            fields["data_element_concept"] = {
                "name": concept,
                "object_class": concept,
                "property": "unspecified",
            }
        representation = item.representation_id
        if representation in known_representations:
            fields["representation_id"] = representation
        else:
            fields["representation"] = {"name": representation, "data_type": "string"}
        try:
            native.append(schemas.DataElementCreate.model_validate(fields))
        except ValidationError as exc:  # e.g. a reference string too long to be a name
            native.append(Unprocessable(validation_summary(exc)))
    return native


async def _elements(session: Session, ids: list[str]) -> list[UpstreamElement]:
    by_id = await DataElementRepository(session).by_ids(ids)
    return [UpstreamElement.model_validate(by_id[i]) for i in ids if i in by_id]


@router.get(BASE)
async def list_elements(session: Session, actor: Viewer, page: Paging) -> UpstreamList:
    rows, total = await RegistryService(session, actor).list_elements(page)
    elements = [UpstreamElement.model_validate(row) for row in rows]
    return UpstreamList(
        data_elements=elements,
        count=len(elements),
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


@router.post(BASE, status_code=201, responses=error_responses(404, 409))
async def create_element(
    body: UpstreamElementIn, session: Session, actor: Editor
) -> UpstreamElement:
    [native] = await _to_native(session, [body])
    if isinstance(native, Unprocessable):
        raise native
    element = await RegistryService(session, actor).create_element(native)
    return UpstreamElement.model_validate(element)


@router.post(BASE + "/bulk", status_code=201, responses=error_responses(413))
async def bulk_create(
    body: Annotated[list[dict[str, Any]], Body(min_length=1)],
    session: Session,
    actor: Editor,
    settings: SettingsDep,
) -> UpstreamBulkOut:
    """A bare JSON array of elements; each is checked on its own (upstream answer shape)."""
    if len(body) > settings.bulk_max_items:
        raise PayloadTooLarge(f"a batch holds at most {settings.bulk_max_items} items")
    failures: list[UpstreamFailure] = []
    valid: list[UpstreamElementIn] = []
    positions: list[int] = []
    for index, raw in enumerate(body):
        try:
            valid.append(UpstreamElementIn.model_validate(raw))
            positions.append(index)
        except ValidationError as exc:
            failures.append(UpstreamFailure(index=index, code=422, error=validation_summary(exc)))
    converted = await _to_native(session, valid)
    for position, item in zip(positions, converted, strict=True):
        if isinstance(item, Unprocessable):
            failures.append(UpstreamFailure(index=position, code=422, error=item.details))
    ready = [
        (position, item)
        for position, item in zip(positions, converted, strict=True)
        if not isinstance(item, Unprocessable)
    ]
    outcomes: list[ItemOutcome] = await RegistryService(session, actor).create_elements(
        [item for _, item in ready]
    )
    created_ids = []
    for (position, _), outcome in zip(ready, outcomes, strict=True):
        if outcome.error is None and outcome.id:
            created_ids.append(outcome.id)
        elif outcome.error is not None:
            failures.append(
                UpstreamFailure(
                    index=position, code=outcome.error.status, error=outcome.error.details
                )
            )
    failures.sort(key=lambda f: f.index)
    return UpstreamBulkOut(
        created=len(created_ids),
        errors=len(failures),
        results=await _elements(session, created_ids),
        failures=failures,
    )


@router.get(BASE + "/{element_id:path}", responses=error_responses(404))
async def get_element(element_id: str, session: Session, actor: Viewer) -> UpstreamElement:
    """By id or by identifier (upstream identifiers are URIs, slashes included)."""
    element = await RegistryService(session, actor).get_element(element_id)
    return UpstreamElement.model_validate(element)
