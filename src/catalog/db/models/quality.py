"""Quality measurements of data elements."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Float, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from catalog.db.models.base import NAME_LENGTH, Base, created_at_column, id_column

DIMENSIONS = ("completeness", "accuracy", "consistency", "timeliness")


class QualityMeasurement(Base):
    __tablename__ = "quality_measurements"
    __table_args__ = (
        *(CheckConstraint(f"{d} >= 0 AND {d} <= 1", name=f"{d}_range") for d in DIMENSIONS),
        Index("idx_quality_measurements_element_time", "data_element_id", "measured_at"),
    )

    id: Mapped[str] = id_column()
    data_element_id: Mapped[str] = mapped_column(ForeignKey("data_elements.id", ondelete="CASCADE"))
    completeness: Mapped[float] = mapped_column(Float)
    accuracy: Mapped[float] = mapped_column(Float)
    consistency: Mapped[float] = mapped_column(Float)
    timeliness: Mapped[float] = mapped_column(Float)
    overall_score: Mapped[float] = mapped_column(Float)
    level: Mapped[str] = mapped_column(String(20))
    source: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    notes: Mapped[str] = mapped_column(Text, default="")
    measured_by: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    measured_at: Mapped[datetime] = created_at_column()
