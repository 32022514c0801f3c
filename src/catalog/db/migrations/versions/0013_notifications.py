"""Notifications: catalog events (the outbox of notifications, appended with the write that
causes them), subscriptions to them, and one delivery row per subscription and event; access
requests remember when their expiry was announced.

Revision ID: 0013
Revises: 0012
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOW = sa.text("CURRENT_TIMESTAMP")
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
SEQUENCE = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "catalog_events",
        sa.Column("seq", SEQUENCE, autoincrement=True, nullable=False),
        sa.Column("id", sa.String(length=60), nullable=False),
        sa.Column("type", sa.String(length=60), nullable=False),
        sa.Column("product_id", sa.String(length=36), nullable=True),
        sa.Column("team", sa.String(length=200), nullable=True),
        sa.Column("visibility", sa.String(length=20), nullable=True),
        sa.Column("requester", sa.String(length=200), nullable=True),
        sa.Column("body", JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_catalog_events")),
        sa.UniqueConstraint("id", name=op.f("uq_catalog_events_id")),
    )
    with op.batch_alter_table("catalog_events", schema=None) as batch_op:
        batch_op.create_index("idx_catalog_events_created_at", ["created_at"], unique=False)

    op.create_table(
        "subscriptions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=False),
        sa.Column("owner_role", sa.String(length=20), nullable=False),
        sa.Column("owner_team", sa.String(length=200), nullable=True),
        sa.Column("owner_kind", sa.String(length=20), nullable=False),
        sa.Column("product_id", sa.String(length=36), nullable=True),
        sa.Column("tag_id", sa.String(length=36), nullable=True),
        sa.Column("team", sa.String(length=200), nullable=True),
        sa.Column("event_types", JSON, nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("secret", sa.Text(), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.CheckConstraint(
            "channel IN ('webhook', 'slack', 'email')", name=op.f("ck_subscriptions_channel")
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["data_products.id"],
            name=op.f("fk_subscriptions_product_id_data_products"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tag_id"], ["tags.id"], name=op.f("fk_subscriptions_tag_id_tags"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscriptions")),
    )
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.create_index("idx_subscriptions_owner", ["owner"], unique=False)
        batch_op.create_index("idx_subscriptions_product_id", ["product_id"], unique=False)

    op.create_table(
        "notification_deliveries",
        sa.Column("id", SEQUENCE, autoincrement=True, nullable=False),
        sa.Column("subscription_id", sa.String(length=36), nullable=False),
        sa.Column("event_seq", SEQUENCE, nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'delivered', 'dead')",
            name=op.f("ck_notification_deliveries_status"),
        ),
        sa.ForeignKeyConstraint(
            ["event_seq"],
            ["catalog_events.seq"],
            name=op.f("fk_notification_deliveries_event_seq_catalog_events"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscriptions.id"],
            name=op.f("fk_notification_deliveries_subscription_id_subscriptions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_deliveries")),
        sa.UniqueConstraint(
            "subscription_id",
            "event_seq",
            name=op.f("uq_notification_deliveries_subscription_id_event_seq"),
        ),
    )
    with op.batch_alter_table("notification_deliveries", schema=None) as batch_op:
        batch_op.create_index(
            "idx_notification_deliveries_due", ["status", "next_attempt_at"], unique=False
        )
        batch_op.create_index("idx_notification_deliveries_event_seq", ["event_seq"], unique=False)

    op.add_column(
        "access_requests",
        sa.Column("expiry_noticed_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    with op.batch_alter_table("access_requests", schema=None) as batch_op:
        batch_op.drop_column("expiry_noticed_at")

    with op.batch_alter_table("notification_deliveries", schema=None) as batch_op:
        batch_op.drop_index("idx_notification_deliveries_event_seq")
        batch_op.drop_index("idx_notification_deliveries_due")

    op.drop_table("notification_deliveries")
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.drop_index("idx_subscriptions_product_id")
        batch_op.drop_index("idx_subscriptions_owner")

    op.drop_table("subscriptions")
    with op.batch_alter_table("catalog_events", schema=None) as batch_op:
        batch_op.drop_index("idx_catalog_events_created_at")

    op.drop_table("catalog_events")
