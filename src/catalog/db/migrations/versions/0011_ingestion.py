"""Ingestion: products found by the crawler or named by OpenLineage carry a stable
`source_ref` and their governed column coverage; lineage edges name the job that drew them;
column-level lineage; the OpenLineage events (kept, and queued until applied); the
crawler's background runs.

Revision ID: 0011
Revises: 0010
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOW = sa.text("CURRENT_TIMESTAMP")
# db/coverage.py's figure for the schemas stored before this revision.
COVERAGE_OF_SCHEMAS_SO_FAR = """
UPDATE data_products SET governed_column_coverage = (
    SELECT avg(CASE WHEN e.definition <> '' AND r.value_domain_id IS NOT NULL
                    THEN 1.0 ELSE 0.0 END)
    FROM product_schema_columns c
    LEFT JOIN data_elements e ON e.id = c.data_element_id
    LEFT JOIN representations r ON r.id = e.representation_id
    WHERE c.product_id = data_products.id
)
WHERE id IN (SELECT product_id FROM product_schema_columns)
"""
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "ingestion_runs",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("source", sa.String(length=500), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("options", JSON, nullable=False),
        sa.Column("report", JSON, nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=NOW,
            nullable=False,
        ),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'succeeded', 'failed')",
            name=op.f("ck_ingestion_runs_status"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ingestion_runs")),
    )
    op.create_index("idx_ingestion_runs_created_at", "ingestion_runs", ["created_at"], unique=False)

    op.create_table(
        "lineage_events",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("event_type", sa.String(length=20), nullable=True),
        sa.Column("event_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("run_id", sa.String(length=100), nullable=True),
        sa.Column("job_namespace", sa.String(length=500), nullable=True),
        sa.Column("job_name", sa.String(length=500), nullable=True),
        sa.Column("producer", sa.Text(), nullable=False),
        sa.Column("payload", JSON, nullable=False),
        sa.Column("received_by", sa.String(length=200), nullable=True),
        sa.Column("received_team", sa.String(length=200), nullable=True),
        sa.Column(
            "received_at",
            sa.DateTime(timezone=True),
            server_default=NOW,
            nullable=False,
        ),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=True),
        sa.Column("error", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "outcome IN ('applied', 'kept', 'failed')", name=op.f("ck_lineage_events_outcome")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lineage_events")),
    )
    op.create_index("idx_lineage_events_event_time", "lineage_events", ["event_time"], unique=False)
    op.create_index(
        "idx_lineage_events_pending",
        "lineage_events",
        ["received_at"],
        unique=False,
        postgresql_where=sa.text("applied_at IS NULL"),
        sqlite_where=sa.text("applied_at IS NULL"),
    )

    op.create_table(
        "column_lineage_edges",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("upstream_product_id", sa.String(length=36), nullable=False),
        sa.Column("upstream_column", sa.String(length=200), nullable=False),
        sa.Column("downstream_product_id", sa.String(length=36), nullable=False),
        sa.Column("downstream_column", sa.String(length=200), nullable=False),
        sa.Column("transformation", sa.String(length=200), nullable=False),
        sa.Column("job", sa.String(length=500), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=NOW,
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["downstream_product_id"],
            ["data_products.id"],
            name=op.f("fk_column_lineage_edges_downstream_product_id_data_products"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["upstream_product_id"],
            ["data_products.id"],
            name=op.f("fk_column_lineage_edges_upstream_product_id_data_products"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_column_lineage_edges")),
        sa.UniqueConstraint(
            "upstream_product_id",
            "upstream_column",
            "downstream_product_id",
            "downstream_column",
            name="uq_column_lineage_edges",
        ),
    )
    op.create_index(
        "idx_column_lineage_downstream",
        "column_lineage_edges",
        ["downstream_product_id", "downstream_column"],
        unique=False,
    )

    # Plain ALTERs, not batch ones: SQLite would rebuild these tables under the graph's views.
    op.add_column("data_products", sa.Column("source_ref", sa.String(length=500), nullable=True))
    op.create_index("uq_data_products_source_ref", "data_products", ["source_ref"], unique=True)
    op.add_column("data_products", sa.Column("governed_column_coverage", sa.Float(), nullable=True))
    op.execute(COVERAGE_OF_SCHEMAS_SO_FAR)
    op.add_column("lineage_edges", sa.Column("job", sa.String(length=500), nullable=True))


def downgrade() -> None:
    op.drop_column("lineage_edges", "job")
    op.drop_index("uq_data_products_source_ref", table_name="data_products")
    op.drop_column("data_products", "source_ref")
    op.drop_column("data_products", "governed_column_coverage")
    op.drop_table("column_lineage_edges")
    op.drop_table("lineage_events")
    op.drop_table("ingestion_runs")
