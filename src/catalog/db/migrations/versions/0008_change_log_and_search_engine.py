"""The change log replaces the graph outbox; the SQL full-text search objects go.

`graph_outbox` becomes `change_log`: the same rows (node label and id, in commit order), now
kept for a retention period and followed by several consumers at their own pace (the graph
projection and each replica's search index) instead of being deleted by one.
`change_log_positions` holds the durable consumer positions and the prune horizon.

Search moved to an embedded Tantivy index built from the catalog tables (catalog/search/), so
the search document table and each database's text indexes on it (migration 0002: tsvector,
pg_trgm and prefix indexes; FTS5 tables and their triggers) are dropped, by 0002's own
downgrade. Downgrading below this revision recreates them empty.

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence
from types import ModuleType

import sqlalchemy as sa
from alembic import context, op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOW = sa.text("CURRENT_TIMESTAMP")


def _search_migration() -> ModuleType:
    """Migration 0002, whose upgrade creates (and downgrade drops) the SQL search objects."""
    script = context.script.get_revision("0002")
    assert script is not None
    return script.module


def upgrade() -> None:
    op.rename_table("graph_outbox", "change_log")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER SEQUENCE graph_outbox_id_seq RENAME TO change_log_id_seq")
    with op.batch_alter_table("change_log") as batch:
        batch.drop_constraint("pk_graph_outbox", type_="primary")
        batch.create_primary_key("pk_change_log", ["id"])
    op.create_index("idx_change_log_created_at", "change_log", ["created_at"])
    op.create_table(
        "change_log_positions",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_change_log_positions")),
    )
    _search_migration().downgrade()


def downgrade() -> None:
    _search_migration().upgrade()
    op.drop_table("change_log_positions")
    op.drop_index("idx_change_log_created_at", table_name="change_log")
    with op.batch_alter_table("change_log") as batch:
        batch.drop_constraint("pk_change_log", type_="primary")
        batch.create_primary_key("pk_graph_outbox", ["id"])
    op.rename_table("change_log", "graph_outbox")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER SEQUENCE change_log_id_seq RENAME TO graph_outbox_id_seq")
