"""Business rules of data element quality.

A measurement scores four dimensions from 0 to 1; its overall score is their mean rounded to
4 places and its level follows from that (see `scoring.py`). Each measurement also becomes
the element's current `quality_score` / `quality_level`: measurements of one element are
taken under the element's row lock, so the newest measurement is always the one shown.

The Prometheus gauge is set only once the measurement is committed, so a rolled-back write
never shows up in metrics (see `metrics.py` for the cap on exported series). A score that
falls below the threshold, or by a set amount at once, is announced to the subscribers of the
products holding the element (`product.quality_dropped`, with the write).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.changes.events import Routing, emit, product_link, product_subject
from catalog.core.time import utcnow
from catalog.db.models import DataElement, QualityMeasurement
from catalog.identity.principal import Actor
from catalog.kit.pagination import PageParams
from catalog.kit.rows import row_dict
from catalog.kit.service import DomainService, must_exist
from catalog.quality import schemas
from catalog.quality.metrics import observe_quality_score
from catalog.quality.repository import MeasurementRepository
from catalog.quality.scoring import SCORE_PLACES, overall_score, quality_level


@dataclass(frozen=True)
class DropRule:
    """When a measurement is news for the products using the element
    (`product.quality_dropped`): its score falls below `threshold`, or by `drop` at once
    (CATALOG_NOTIFY_QUALITY_THRESHOLD / _DROP)."""

    threshold: float
    drop: float

    def dropped(self, previous: float | None, score: float) -> bool:
        """The fall is rounded as the scores are: 0.95 - 0.85 is 0.0999... in floats, and a
        fall of exactly `drop` must count."""
        crossed = score < self.threshold and (previous is None or previous >= self.threshold)
        fell = previous is not None and round(previous - score, SCORE_PLACES) >= self.drop
        return crossed or fell


class QualityService(DomainService):
    def __init__(
        self,
        session: AsyncSession,
        actor: Actor,
        max_series: int = 0,
        drop_rule: DropRule | None = None,
    ) -> None:
        super().__init__(session, actor)
        self.measurements = MeasurementRepository(session)
        self.max_series = max_series
        self.drop_rule = drop_rule  # None: measurements announce no drop (reads pass none)

    async def measure(
        self, element_key: str, body: schemas.MeasurementCreate
    ) -> QualityMeasurement:
        element = must_exist(
            await self.measurements.lock_element(element_key), "data element", element_key
        )
        element_before_score = element.quality_score
        previous = {"quality_score": element.quality_score, "quality_level": element.quality_level}
        score = overall_score(body.completeness, body.accuracy, body.consistency, body.timeliness)
        level = quality_level(score)
        measurement = await self.measurements.add(
            QualityMeasurement(
                data_element_id=element.id,
                **body.model_dump(),
                overall_score=score,
                level=level,
                measured_by=self.actor.subject,
                measured_at=utcnow(),
            )
        )
        await self.measurements.set_element_score(element.id, score, level)
        self.audit.record(
            "create",
            "quality_measurement",
            measurement.id,
            after=row_dict(measurement),
            details={"data_element_id": element.id, "element_before": previous},
        )
        self._export_after_commit(element.id, score)
        rule = self.drop_rule
        if rule is not None and rule.dropped(element_before_score, score):
            await self._announce_drop(rule, element, element_before_score, score, level)
        return measurement

    async def _announce_drop(
        self,
        rule: DropRule,
        element: DataElement,
        previous: float | None,
        score: float,
        level: str,
    ) -> None:
        """`product.quality_dropped` for each product holding the element (a member, or a
        column of its schema bound to it), once per product even when it holds it twice."""
        for product in await self.measurements.products_using(element.id):
            emit(
                self.session,
                "product.quality_dropped",
                actor=self.actor.subject,
                subject=product_subject(product),
                payload={
                    "element_id": element.id,
                    "element_name": element.name,
                    "previous": previous,
                    "score": score,
                    "level": level,
                    "threshold": rule.threshold,
                    "drop": rule.drop,
                },
                link=product_link(product.id),
                routing=Routing.of(product),
            )

    def _export_after_commit(self, element_id: str, score: float) -> None:
        max_series = self.max_series

        def export(_session: Any) -> None:
            observe_quality_score(element_id, score, max_series)

        event.listen(self.session.sync_session, "after_commit", export, once=True)

    async def element(self, element_key: str) -> DataElement:
        return must_exist(
            await self.measurements.find_element(element_key), "data element", element_key
        )

    async def quality_of(
        self, element_key: str, page: PageParams
    ) -> tuple[DataElement, QualityMeasurement | None, Sequence[QualityMeasurement], int]:
        """The element, its latest measurement, a page of its history and the history size."""
        element = await self.element(element_key)
        latest = await self.measurements.latest(element.id)
        statement = self.measurements.history_statement(element.id)
        history, total = await self.measurements.paginate(statement, page.limit, page.offset)
        return element, latest, history, total
