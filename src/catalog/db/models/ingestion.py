"""What arrived by itself: raw OpenLineage events and the runs of the database crawler."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from catalog.db.models.base import NAME_LENGTH, Base, created_at_column, enum_check, id_column
from catalog.db.models.products import SOURCE_REF_LENGTH
from catalog.db.types import JSONType, UTCDateTime

INGESTION_RUN_STATUSES = ("queued", "running", "succeeded", "failed")


LINEAGE_OUTCOMES = ("applied", "kept", "failed")


class LineageEventRecord(Base):
    """An OpenLineage event as it was posted (`payload`), with the fields it is listed by, and
    whether it has been applied to the catalog yet (openlineage/applier.py): `applied_at` is
    None until then, `outcome` says how it went."""

    __tablename__ = "lineage_events"
    __table_args__ = (
        Index("idx_lineage_events_event_time", "event_time"),
        # The applier's queue: only the rows still to apply are in this index.
        Index(
            "idx_lineage_events_pending",
            "received_at",
            postgresql_where=text("applied_at IS NULL"),
            sqlite_where=text("applied_at IS NULL"),
        ),
        CheckConstraint(enum_check("outcome", LINEAGE_OUTCOMES), name="outcome"),
    )

    id: Mapped[str] = id_column()
    kind: Mapped[str] = mapped_column(String(20))  # run | dataset | job
    event_type: Mapped[str | None] = mapped_column(String(20))
    event_time: Mapped[datetime] = mapped_column(UTCDateTime())
    run_id: Mapped[str | None] = mapped_column(String(100))
    job_namespace: Mapped[str | None] = mapped_column(String(SOURCE_REF_LENGTH))
    job_name: Mapped[str | None] = mapped_column(String(SOURCE_REF_LENGTH))
    producer: Mapped[str] = mapped_column(Text, default="")
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)
    received_by: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    # The sender's team (an API key's): products the event makes are that team's.
    received_team: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    received_at: Mapped[datetime] = created_at_column()
    applied_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    outcome: Mapped[str | None] = mapped_column(String(20))
    error: Mapped[str] = mapped_column(Text, default="")


class IngestionRun(Base):
    """One `POST /api/ingestion/runs`: a crawl run in the background, its plan and outcome."""

    __tablename__ = "ingestion_runs"
    __table_args__ = (
        CheckConstraint(enum_check("status", INGESTION_RUN_STATUSES), name="status"),
        Index("idx_ingestion_runs_created_at", "created_at"),
    )

    id: Mapped[str] = id_column()
    # The database crawled, as kit/dataset_refs.source_of_url spells it: never credentials.
    source: Mapped[str] = mapped_column(String(SOURCE_REF_LENGTH))
    status: Mapped[str] = mapped_column(String(20), default="queued")
    options: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    report: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    error: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    created_at: Mapped[datetime] = created_at_column()
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
