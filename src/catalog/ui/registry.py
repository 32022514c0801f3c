"""The registry pages: browse and search data elements, concepts and value domains
(`/ui/registry`), and one page per element, concept and value domain.

Lists and items come from `RegistryService` exactly as the API's registry routes call it; the
products using an element come from `ProductService.list_products`, so a restricted product is
hidden from whoever the product list would hide it from.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal, get_args

from fastapi import APIRouter, Query, Request, Response

from catalog.kit.pagination import MAX_OFFSET, PageParams
from catalog.kit.schemas import NAME_MAX
from catalog.products.service import ProductService
from catalog.registry import schemas
from catalog.registry.service import RegistryService
from catalog.server.deps import Session
from catalog.server.roles import Viewer
from catalog.ui.web import PageLinks, UiRoute, render

router = APIRouter(route_class=UiRoute, include_in_schema=False)
PAGE_SIZE = 25
USED_BY_SHOWN = 100  # products listed on an element's page; the total is always shown
ELEMENTS_SHOWN = 100  # elements listed on a concept's page
Kind = Literal["elements", "concepts", "domains"]
KINDS: list[tuple[Kind, str]] = [
    ("elements", "Data elements"),
    ("concepts", "Concepts"),
    ("domains", "Value domains"),
]
STATUSES: Sequence[str] = get_args(schemas.RegistrationStatus)


@router.get("/ui/registry")
async def registry_page(
    request: Request,
    session: Session,
    actor: Viewer,
    kind: Kind = "elements",
    q: Annotated[str | None, Query(max_length=NAME_MAX)] = None,
    status: schemas.RegistrationStatus | None = None,
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
) -> Response:
    q = (q or "").strip() or None
    if kind != "elements":
        status = None  # only elements have a registration status
    current = {"kind": kind, "q": q, "status": status, "offset": offset}
    link = PageLinks("/ui/registry", current, {"kind": "elements"})

    registry = RegistryService(session, actor)
    page = PageParams(limit=PAGE_SIZE, offset=offset)
    rows: Sequence[Any]
    if kind == "elements":
        rows, total = await registry.list_elements(page, name=q, status=status)
    elif kind == "concepts":
        rows, total = await registry.list_concepts(page, q)
    else:
        rows, total = await registry.list_value_domains(page, q, None)
    return render(
        request,
        "registry.html",
        kind=kind,
        kinds=KINDS,
        label=dict(KINDS)[kind],
        q=q,
        status_filter=status,
        statuses=STATUSES,
        offset=offset,
        limit=PAGE_SIZE,
        rows=rows,
        total=total,
        link=link,
    )


@router.get("/ui/registry/elements/{element_id}")
async def element_page(
    request: Request, session: Session, actor: Viewer, element_id: str
) -> Response:
    registry = RegistryService(session, actor)
    element = await registry.get_element(element_id)
    concept = (
        await registry.get_concept(element.data_element_concept_id)
        if element.data_element_concept_id
        else None
    )
    representation = (
        await registry.get_representation(element.representation_id)
        if element.representation_id
        else None
    )
    domain = (
        await registry.get_value_domain(representation.value_domain_id)
        if representation is not None and representation.value_domain_id
        else None
    )
    used_by, used_total = await ProductService(session, actor).list_products(
        PageParams(limit=USED_BY_SHOWN, offset=0), data_element_id=element.id
    )
    return render(
        request,
        "registry_element.html",
        element=schemas.DataElementOut.model_validate(element),
        concept=concept,
        representation=representation,
        domain=domain,
        used_by=used_by,
        used_total=used_total,
    )


@router.get("/ui/registry/concepts/{concept_id}")
async def concept_page(
    request: Request, session: Session, actor: Viewer, concept_id: str
) -> Response:
    registry = RegistryService(session, actor)
    concept = await registry.get_concept(concept_id)
    elements, total = await registry.list_elements(
        PageParams(limit=ELEMENTS_SHOWN, offset=0), concept_id=concept.id
    )
    return render(request, "registry_concept.html", concept=concept, elements=elements, total=total)


@router.get("/ui/registry/domains/{domain_id}")
async def domain_page(
    request: Request, session: Session, actor: Viewer, domain_id: str
) -> Response:
    domain = await RegistryService(session, actor).get_value_domain(domain_id)
    return render(
        request, "registry_domain.html", domain=schemas.ValueDomainOut.model_validate(domain)
    )
