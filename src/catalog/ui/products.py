"""The product page (`/ui/products/{id}`) and asking for access (`.../request-access`).

Everything comes from the services the API's routes call, with the same actor: a product the
caller may not see is the API's 404 here too, and the lineage drawing hides exactly what
`GET /api/data-products/{id}/lineage` hides (same service, same store).

Two things the API leaves to its clients are worked out here, for people to read:
- what changed from one version to the next (versions are snapshots: their differences are
  the changes; see `changes_between` for what counts as breaking);
- the product's quality over time: its score is the mean of its member elements' current
  scores (as search ranks it), so its history is that mean replayed over their measurements.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.access import schemas as access_schemas
from catalog.access.service import AccessService
from catalog.api.graph import for_request
from catalog.core.errors import CatalogError, Conflict, ServiceUnavailable
from catalog.core.time import utcnow
from catalog.db.models import DataProduct, DataProductVersion
from catalog.discover.service import DiscoverService
from catalog.identity.principal import Actor
from catalog.kit.pagination import PageParams
from catalog.products.column_lineage import ColumnLineageService
from catalog.products.service import ProductService, column_dict, precedence
from catalog.products.version_changes import Change, changes_between
from catalog.quality.service import QualityService
from catalog.registry.service import RegistryService
from catalog.server.deps import Session
from catalog.server.roles import Viewer
from catalog.tags.service import TagService
from catalog.ui.lineage_svg import Drawing, layout
from catalog.ui.web import UiRoute, field, form_of, render, resources_of, see_other
from catalog.usage.service import UsageService

router = APIRouter(route_class=UiRoute, include_in_schema=False)
PRODUCT = "/ui/products/{product_id}"
MAX_DEPTH = 4  # levels of lineage a page draws
MAX_NODES = 60  # per direction: a drawing people can read, not an export
SHOWN_ELEMENTS = 100
SHOWN_TAGS = 200
MEASUREMENTS_PER_ELEMENT = 20
QUALITY_ROWS = 12


@router.get(PRODUCT)
async def product_page(
    request: Request,
    product_id: str,
    session: Session,
    actor: Viewer,
    depth: int = Query(2, ge=1, le=MAX_DEPTH),
    search_id: Annotated[str | None, Query(max_length=100)] = None,
) -> Response:
    products = ProductService(session, actor)
    product = await products.get(product_id)  # 404 first, as the API
    if search_id:
        await _report_click(request, session, actor, search_id, product_id)
    versions = await products.list_versions(product_id, "asc")
    members, member_total = await products.list_members(product_id, PageParams(SHOWN_ELEMENTS, 0))
    tags, _ = await TagService(session, actor).list_product_tags(
        product_id, PageParams(SHOWN_TAGS, 0)
    )
    elements = await _elements(session, actor, members)
    columns = [column_dict(c) for c in await products.columns.current(product_id)]
    column_sources = await ColumnLineageService(session, actor).sources_of_columns(product_id)
    drawing, truncated, lineage_error = await _lineage(request, session, actor, product, depth)
    return render(
        request,
        "product.html",
        product=product,
        versions=_with_changes(versions),
        tags=tags,
        usage=await UsageService(session, actor).stats(product_id),
        elements=elements,
        element_total=member_total,
        columns=columns,
        column_sources=column_sources,
        quality=mean([e.quality_score for e in elements]),
        quality_history=await _quality_history(session, actor, elements),
        drawing=drawing,
        depth=depth,
        max_depth=MAX_DEPTH,
        lineage_truncated=truncated,
        lineage_error=lineage_error,
    )


async def _report_click(
    request: Request, session: AsyncSession, actor: Actor, search_id: str, product_id: str
) -> None:
    """Tell search this result was opened (as `POST /api/discover/search/{id}/click`); a
    stale or forged search id must not cost the person the page."""
    history = resources_of(request).search_history
    with contextlib.suppress(CatalogError):
        await DiscoverService(session, actor, history).click(search_id, product_id)


# --- versions ------------------------------------------------------------------------------


@dataclass(frozen=True)
class VersionView:
    version: DataProductVersion
    changes: list[Change]

    @property
    def breaking(self) -> bool:
        return any(change.breaking for change in self.changes)


def _with_changes(versions: list[DataProductVersion]) -> list[VersionView]:
    """Versions newest first, each with what changed since the one before it."""
    ordered = sorted(versions, key=precedence)
    views, previous = [], None
    for version in ordered:
        views.append(VersionView(version, changes_between(previous, version.snapshot)))
        previous = version.snapshot
    return views[::-1]


# --- member elements and quality -----------------------------------------------------------


@dataclass(frozen=True)
class ElementView:
    id: str
    name: str
    identifier: str
    role: str | None
    registration_status: str
    definition: str
    quality_score: float | None
    quality_level: str | None
    domain_id: str | None
    domain_name: str | None


async def _elements(session: AsyncSession, actor: Actor, members: list[Any]) -> list[ElementView]:
    """Member elements with their definitions and value domains (through their
    representation), as the registry's services answer them."""
    registry = RegistryService(session, actor)
    domains: dict[str, tuple[str | None, str | None]] = {}  # representation id -> domain
    views = []
    for member in members:
        element = await registry.get_element(member.data_element_id)
        domain: tuple[str | None, str | None] = (None, None)
        if element.representation_id is not None:
            if element.representation_id not in domains:
                representation = await registry.get_representation(element.representation_id)
                domain_id = representation.value_domain_id
                name = (await registry.get_value_domain(domain_id)).name if domain_id else None
                domains[element.representation_id] = (domain_id, name)
            domain = domains[element.representation_id]
        views.append(
            ElementView(
                element.id,
                element.name,
                element.identifier,
                member.role,
                element.registration_status,
                element.definition,
                element.quality_score,
                element.quality_level,
                *domain,
            )
        )
    return views


@dataclass(frozen=True)
class QualityPoint:
    measured_at: datetime
    score: float  # the product's: mean of its elements' latest scores at that moment
    element: str
    element_score: float


def mean(scores: list[float | None]) -> float | None:
    known = [score for score in scores if score is not None]
    return sum(known) / len(known) if known else None


async def _quality_history(
    session: AsyncSession, actor: Actor, elements: list[ElementView]
) -> list[QualityPoint]:
    """The product's score after each of its elements' recent measurements, newest first."""
    quality = QualityService(session, actor)
    measured = []
    for element in elements:
        if element.quality_score is None:
            continue  # never measured
        _, _, history, _ = await quality.quality_of(
            element.id, PageParams(MEASUREMENTS_PER_ELEMENT, 0)
        )
        measured += [(m.measured_at, m.id, element.name, m.overall_score) for m in history]
    latest: dict[str, float] = {}
    points = []
    for measured_at, _, name, score in sorted(measured):
        latest[name] = score
        points.append(QualityPoint(measured_at, sum(latest.values()) / len(latest), name, score))
    return points[::-1][:QUALITY_ROWS]


# --- lineage -------------------------------------------------------------------------------


async def _lineage(
    request: Request, session: AsyncSession, actor: Actor, product: DataProduct, depth: int
) -> tuple[Drawing | None, bool, str]:
    """Both walks of the API's lineage service, laid out; a graph store that is down leaves
    the rest of the page standing."""
    resources = resources_of(request)
    graph = for_request(session, actor, resources)
    depth = min(depth, resources.settings.lineage_max_depth)
    nodes = min(MAX_NODES, resources.settings.lineage_max_nodes)
    try:
        up = await graph.product_lineage(product.id, "upstream", depth, nodes)
        down = await graph.product_lineage(product.id, "downstream", depth, nodes)
    except ServiceUnavailable as exc:
        return None, False, f"Lineage is not available right now ({exc.details})."
    return layout(product.id, product.name, up, down), up.truncated or down.truncated, ""


# --- requesting access ---------------------------------------------------------------------


@router.get(PRODUCT + "/request-access")
async def request_access_form(
    request: Request, product_id: str, session: Session, actor: Viewer
) -> Response:
    product = await ProductService(session, actor).get(product_id)
    return _access_form(request, product, {})


@router.post(PRODUCT + "/request-access")
async def request_access(
    request: Request, product_id: str, session: Session, actor: Viewer
) -> Response:
    form = await form_of(request)
    product = await ProductService(session, actor).get(product_id)
    values = {name: field(form, name) for name in ("reason", "comments", "expires_at")}
    body, errors = _access_body(product_id, values, actor)
    if body is None:
        return _access_form(request, product, values, errors, 400)
    try:
        await AccessService(session, actor).create(body)
    except Conflict as exc:  # already pending: say so, and keep nothing of this attempt
        await session.rollback()
        await session.refresh(product)  # the rollback expired it; the form shows its name
        return _access_form(request, product, values, [exc.details], 409)
    return see_other("/ui/access")


def _access_form(
    request: Request,
    product: DataProduct,
    values: dict[str, str],
    errors: list[str] | None = None,
    status: int = 200,
) -> Response:
    return render(
        request,
        "request_access.html",
        status=status,
        product=product,
        values=values,
        errors=errors or [],
        today=utcnow().date().isoformat(),
    )


def _access_body(
    product_id: str, values: dict[str, str], actor: Actor
) -> tuple[access_schemas.AccessRequestCreate | None, list[str]]:
    """The API's request body from the form, or what a person has to fix."""
    errors = []
    if not values["reason"]:
        errors.append("Say why you need access: the reason is required.")
    expires_at = None
    if values["expires_at"]:
        try:
            # Access lasts to the end of the chosen day (UTC).
            day = date.fromisoformat(values["expires_at"])
            expires_at = datetime.combine(day + timedelta(days=1), time(), UTC)
        except ValueError:
            errors.append("The expiry date is not a date (YYYY-MM-DD).")
        else:
            if expires_at <= utcnow():
                errors.append("The expiry date is in the past: choose today or a later day.")
    if errors:
        return None, errors
    payload: dict[str, Any] = {"product_id": product_id, "reason": values["reason"]}
    if values["comments"]:
        payload["comments"] = values["comments"]
    if expires_at is not None:
        payload["expires_at"] = expires_at.isoformat()
    if actor.principal.team:
        payload["requester_team"] = actor.principal.team
    try:
        return access_schemas.AccessRequestCreate.model_validate(payload), []
    except ValidationError as exc:
        return None, [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
