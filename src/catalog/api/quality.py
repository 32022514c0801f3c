"""HTTP routes of data element quality: record a measurement, read the latest and history."""

from __future__ import annotations

from fastapi import APIRouter

from catalog.core.error_schema import error_responses
from catalog.kit.pagination import Paging
from catalog.quality import schemas
from catalog.quality.service import DropRule, QualityService
from catalog.server.deps import Session, SettingsDep
from catalog.server.retrying_route import RetryingRoute
from catalog.server.roles import Editor, Viewer

QUALITY = "/api/data-elements/{element_id}/quality"

router = APIRouter(tags=["quality"], route_class=RetryingRoute)


@router.post(QUALITY, status_code=201, responses=error_responses(404))
async def record_measurement(
    element_id: str,
    body: schemas.MeasurementCreate,
    session: Session,
    actor: Editor,
    settings: SettingsDep,
) -> schemas.MeasurementOut:
    """Record a measurement (editor). `overall_score` is the mean of the four dimensions
    (4 places); `level` is excellent >= 0.9, good >= 0.75, fair >= 0.5, else poor. The
    element's `quality_score` and `quality_level` become this measurement's."""
    drops = DropRule(settings.notify_quality_threshold, settings.notify_quality_drop)
    quality = QualityService(session, actor, settings.quality_metric_max_series, drops)
    return schemas.MeasurementOut.model_validate(await quality.measure(element_id, body))


@router.get(QUALITY, responses=error_responses(404))
async def get_quality(
    element_id: str, session: Session, actor: Viewer, page: Paging
) -> schemas.QualityOut:
    """The latest measurement and the history, newest first (`limit`/`offset` page it)."""
    element, latest, history, total = await QualityService(session, actor).quality_of(
        element_id, page
    )
    return schemas.QualityOut(
        data_element_id=element.id,
        latest=schemas.MeasurementOut.model_validate(latest) if latest else None,
        history=[schemas.MeasurementOut.model_validate(m) for m in history],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )
