"""Request and response models of data element quality."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from catalog.kit.schemas import Fraction, LongText, RequestModel, ResponseModel, ShortText

QualityLevel = Literal["excellent", "good", "fair", "poor"]


class MeasurementCreate(RequestModel):
    """One measurement: four dimensions, each a fraction from 0 (worst) to 1 (best)."""

    completeness: Fraction
    accuracy: Fraction
    consistency: Fraction
    timeliness: Fraction
    source: ShortText | None = None
    notes: LongText = ""


class MeasurementOut(ResponseModel):
    id: str
    data_element_id: str
    completeness: float
    accuracy: float
    consistency: float
    timeliness: float
    overall_score: float
    level: QualityLevel
    source: str | None
    notes: str
    measured_by: str | None
    measured_at: datetime


class QualityOut(ResponseModel):
    """The latest measurement and a page of the history, newest first."""

    data_element_id: str
    latest: MeasurementOut | None
    history: list[MeasurementOut]
    total: int
    limit: int
    offset: int
