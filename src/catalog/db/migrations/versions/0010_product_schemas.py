"""Dataset schemas of data products: the current columns of each product, each linked to a
governed data element (versions keep theirs in the snapshot's `schema`, no table needed).

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "product_schema_columns",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("product_id", sa.String(length=36), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("physical_type", sa.String(length=100), nullable=False),
        sa.Column("nullable", sa.Boolean(), nullable=False),
        sa.Column("primary_key", sa.Boolean(), nullable=False),
        sa.Column("default_value", sa.Text(), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("tags", JSON, nullable=False),
        sa.Column("data_element_id", sa.String(length=36), nullable=True),
        sa.ForeignKeyConstraint(
            ["data_element_id"],
            ["data_elements.id"],
            name=op.f("fk_product_schema_columns_data_element_id_data_elements"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["data_products.id"],
            name=op.f("fk_product_schema_columns_product_id_data_products"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product_schema_columns")),
        sa.UniqueConstraint(
            "product_id", "name", name=op.f("uq_product_schema_columns_product_id_name")
        ),
    )
    op.create_index(
        op.f("ix_product_schema_columns_data_element_id"),
        "product_schema_columns",
        ["data_element_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_product_schema_columns_data_element_id"), table_name="product_schema_columns"
    )
    op.drop_table("product_schema_columns")
