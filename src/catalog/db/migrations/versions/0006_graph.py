"""The graph: the outbox feeding graph databases, and the relational graph as one view.

`graph_outbox` lists nodes whose projection is out of date (graph/outbox.py). `graph_edges`
shows every relationship of the catalog as (type, source, target) rows, read by the `sql`
graph store (graph/sql_store.py) for neighbours and paths.

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOW = sa.text("CURRENT_TIMESTAMP")

LINEAGE_LABEL = "CASE {column} WHEN 'product' THEN 'DataProduct' ELSE 'DataElement' END"
GRAPH_EDGES = f"""
CREATE VIEW graph_edges AS
SELECT 'HAS_TAG' AS type, 'DataProduct' AS source_label, product_id AS source_id,
       'Tag' AS target_label, tag_id AS target_id, NULL AS relationship
  FROM product_tags
UNION ALL
SELECT 'HAS_VERSION', 'DataProduct', product_id, 'DataProductVersion', id, NULL
  FROM data_product_versions
UNION ALL
SELECT 'CONTAINS', 'DataProduct', product_id, 'DataElement', data_element_id, NULL
  FROM product_elements
UNION ALL
SELECT 'USES_CONCEPT', 'DataElement', id, 'DataElementConcept', data_element_concept_id, NULL
  FROM data_elements WHERE data_element_concept_id IS NOT NULL
UNION ALL
SELECT 'USES_REPRESENTATION', 'DataElement', e.id, 'ValueDomain', r.value_domain_id, NULL
  FROM data_elements e JOIN representations r ON r.id = e.representation_id
 WHERE r.value_domain_id IS NOT NULL
UNION ALL
SELECT 'DERIVED_FROM', {LINEAGE_LABEL.format(column="downstream_type")}, downstream_id,
       {LINEAGE_LABEL.format(column="upstream_type")}, upstream_id, relationship
  FROM lineage_edges
UNION ALL
SELECT 'CHILD_OF', 'Tag', id, 'Tag', parent_tag_id, NULL
  FROM tags WHERE parent_tag_id IS NOT NULL
"""


def upgrade() -> None:
    op.create_table(
        "graph_outbox",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("label", sa.String(length=40), nullable=False),
        sa.Column("node_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_graph_outbox")),
    )
    # Walking the view from either end uses the indexes 0001 made on every referencing
    # column (foreign keys, lineage ends).
    op.execute(GRAPH_EDGES)


def downgrade() -> None:
    op.execute("DROP VIEW graph_edges")
    op.drop_table("graph_outbox")
