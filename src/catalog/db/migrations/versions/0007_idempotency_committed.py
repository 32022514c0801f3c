"""Idempotency keys remember whether their request's transaction committed.

`committed_at` is set inside the request's own transaction (deps.get_session), so it is there
exactly when the request's writes are: a key whose answer was lost after the commit is never
run again, and one whose transaction rolled back is freed for a retry.

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("idempotency_keys") as batch:
        batch.add_column(sa.Column("committed_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("idempotency_keys") as batch:
        batch.drop_column("committed_at")
