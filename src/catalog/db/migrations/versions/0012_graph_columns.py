"""The graph's schema columns: `graph_edges` (0006) also shows each product's current dataset
schema columns, `(DataProduct)-[:HAS_COLUMN]->(SchemaColumn)`, and column lineage between
them, `(SchemaColumn)-[:DERIVED_FROM]->(SchemaColumn)`, and carries each lineage edge's
`transformation` and `job` (product lineage's job too).

Column lineage names its ends by product id and column name (`column_lineage_edges`), so the
view joins both ends to `product_schema_columns` on (product_id, name): an edge whose either
end is no column of its product's current schema joins nothing and is left out. Walking the
view uses the indexes of 0010/0011: the columns' primary key and unique (product_id, name),
`idx_column_lineage_downstream` from the downstream end and `uq_column_lineage_edges` (whose
leading columns are the upstream end) from the upstream end.

Revision ID: 0012
Revises: 0011
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LINEAGE_LABEL = "CASE {column} WHEN 'product' THEN 'DataProduct' ELSE 'DataElement' END"

GRAPH_EDGES = f"""
CREATE VIEW graph_edges AS
SELECT 'HAS_TAG' AS type, 'DataProduct' AS source_label, product_id AS source_id,
       'Tag' AS target_label, tag_id AS target_id, NULL AS relationship,
       NULL AS transformation, NULL AS job
  FROM product_tags
UNION ALL
SELECT 'HAS_VERSION', 'DataProduct', product_id, 'DataProductVersion', id, NULL, NULL, NULL
  FROM data_product_versions
UNION ALL
SELECT 'CONTAINS', 'DataProduct', product_id, 'DataElement', data_element_id, NULL, NULL, NULL
  FROM product_elements
UNION ALL
SELECT 'USES_CONCEPT', 'DataElement', id, 'DataElementConcept', data_element_concept_id,
       NULL, NULL, NULL
  FROM data_elements WHERE data_element_concept_id IS NOT NULL
UNION ALL
SELECT 'USES_REPRESENTATION', 'DataElement', e.id, 'ValueDomain', r.value_domain_id,
       NULL, NULL, NULL
  FROM data_elements e JOIN representations r ON r.id = e.representation_id
 WHERE r.value_domain_id IS NOT NULL
UNION ALL
SELECT 'DERIVED_FROM', {LINEAGE_LABEL.format(column="downstream_type")}, downstream_id,
       {LINEAGE_LABEL.format(column="upstream_type")}, upstream_id, relationship, NULL, job
  FROM lineage_edges
UNION ALL
SELECT 'CHILD_OF', 'Tag', id, 'Tag', parent_tag_id, NULL, NULL, NULL
  FROM tags WHERE parent_tag_id IS NOT NULL
UNION ALL
SELECT 'HAS_COLUMN', 'DataProduct', product_id, 'SchemaColumn', id, NULL, NULL, NULL
  FROM product_schema_columns
UNION ALL
SELECT 'DERIVED_FROM', 'SchemaColumn', d.id, 'SchemaColumn', u.id, NULL, c.transformation, c.job
  FROM column_lineage_edges c
  JOIN product_schema_columns d
    ON d.product_id = c.downstream_product_id AND d.name = c.downstream_column
  JOIN product_schema_columns u
    ON u.product_id = c.upstream_product_id AND u.name = c.upstream_column
"""

# 0006's definition, restored by the downgrade.
GRAPH_EDGES_0006 = f"""
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
    # Neither database can add columns to a view in place (SQLite has no CREATE OR REPLACE
    # VIEW; PostgreSQL's only appends): drop and create, in the migration's transaction.
    op.execute("DROP VIEW graph_edges")
    op.execute(GRAPH_EDGES)


def downgrade() -> None:
    op.execute("DROP VIEW graph_edges")
    op.execute(GRAPH_EDGES_0006)
