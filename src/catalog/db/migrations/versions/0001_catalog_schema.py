"""The catalog schema: every table and every index the readiness guide recommends.

Revision ID: 0001
Revises:
Create Date: 2026-11-29 08:07:23.981138
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
NOW = sa.text("CURRENT_TIMESTAMP")


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("prefix", sa.String(length=32), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("scopes", JSON, nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "role IN ('viewer', 'editor', 'steward', 'admin')", name=op.f("ck_api_keys_role")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
    )
    op.create_index(op.f("ix_api_keys_prefix"), "api_keys", ["prefix"], unique=False)

    op.create_table(
        "audit_events",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("timestamp", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=True),
        sa.Column("actor_role", sa.String(length=20), nullable=True),
        sa.Column("action", sa.String(length=100), nullable=False),
        sa.Column("resource_type", sa.String(length=100), nullable=False),
        sa.Column("resource_id", sa.String(length=36), nullable=True),
        sa.Column("request_id", sa.String(length=128), nullable=True),
        sa.Column("client_ip", sa.String(length=64), nullable=True),
        sa.Column("before", JSON, nullable=True),
        sa.Column("after", JSON, nullable=True),
        sa.Column("details", JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    op.create_index("idx_audit_events_action", "audit_events", ["action"], unique=False)
    op.create_index("idx_audit_events_actor", "audit_events", ["actor"], unique=False)
    op.create_index(
        "idx_audit_events_resource", "audit_events", ["resource_type", "resource_id"], unique=False
    )
    op.create_index("idx_audit_events_timestamp", "audit_events", ["timestamp"], unique=False)

    op.create_table(
        "data_element_concepts",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("object_class", sa.String(length=200), nullable=False),
        sa.Column("property", sa.String(length=200), nullable=False),
        sa.Column("definition", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_element_concepts")),
        sa.UniqueConstraint("name", name=op.f("uq_data_element_concepts_name")),
    )
    op.create_table(
        "data_products",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("team", sa.String(length=200), nullable=False),
        sa.Column("category", sa.String(length=200), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("visibility", sa.String(length=20), nullable=False),
        sa.Column("metadata", JSON, nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.CheckConstraint(
            "status IN ('draft', 'published', 'deprecated')", name=op.f("ck_data_products_status")
        ),
        sa.CheckConstraint(
            "visibility IN ('public', 'internal', 'restricted')",
            name=op.f("ck_data_products_visibility"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_products")),
        sa.UniqueConstraint("name", name=op.f("uq_data_products_name")),
    )
    op.create_index("idx_data_products_category", "data_products", ["category"], unique=False)
    op.create_index("idx_data_products_status", "data_products", ["status"], unique=False)
    op.create_index("idx_data_products_team", "data_products", ["team"], unique=False)
    op.create_index("idx_data_products_updated_at", "data_products", ["updated_at"], unique=False)

    op.create_table(
        "langextract_audit_trail",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("extraction_id", sa.String(length=200), nullable=False),
        sa.Column("user_id", sa.String(length=200), nullable=False),
        sa.Column("context", sa.Text(), nullable=False),
        sa.Column("operation_type", sa.String(length=100), nullable=False),
        sa.Column("request", JSON, nullable=False),
        sa.Column("response", JSON, nullable=False),
        sa.Column("processing_time_ms", sa.Integer(), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("schema_version", sa.String(length=100), nullable=True),
        sa.Column("quality_metrics", JSON, nullable=False),
        sa.Column("metadata", JSON, nullable=False),
        sa.Column("recorded_by", sa.String(length=200), nullable=True),
        sa.Column("timestamp", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_langextract_audit_trail")),
    )
    op.create_index(
        "idx_langextract_audit_trail_extraction_id",
        "langextract_audit_trail",
        ["extraction_id"],
        unique=False,
    )
    op.create_index(
        "idx_langextract_audit_trail_operation_type",
        "langextract_audit_trail",
        ["operation_type"],
        unique=False,
    )
    op.create_index(
        "idx_langextract_audit_trail_timestamp",
        "langextract_audit_trail",
        ["timestamp"],
        unique=False,
    )
    op.create_index(
        "idx_langextract_audit_trail_user_id", "langextract_audit_trail", ["user_id"], unique=False
    )

    op.create_table(
        "lineage_edges",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("upstream_type", sa.String(length=20), nullable=False),
        sa.Column("upstream_id", sa.String(length=36), nullable=False),
        sa.Column("downstream_type", sa.String(length=20), nullable=False),
        sa.Column("downstream_id", sa.String(length=36), nullable=False),
        sa.Column("relationship", sa.String(length=50), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.CheckConstraint(
            "downstream_type IN ('product', 'element')",
            name=op.f("ck_lineage_edges_downstream_type"),
        ),
        sa.CheckConstraint(
            "upstream_type IN ('product', 'element')", name=op.f("ck_lineage_edges_upstream_type")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lineage_edges")),
        sa.UniqueConstraint(
            "upstream_type",
            "upstream_id",
            "downstream_type",
            "downstream_id",
            name=op.f("uq_lineage_edges_upstream_type_upstream_id_downstream_type_downstream_id"),
        ),
    )
    op.create_index(
        "idx_lineage_edges_downstream",
        "lineage_edges",
        ["downstream_type", "downstream_id"],
        unique=False,
    )

    op.create_table(
        "regulatory_schemas",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("regulatory_type", sa.String(length=100), nullable=False),
        sa.Column("version", sa.String(length=100), nullable=False),
        sa.Column("document_source", sa.String(length=500), nullable=True),
        sa.Column("document_version", sa.String(length=100), nullable=True),
        sa.Column("spec_json", JSON, nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=True),
        sa.Column("approved_by", sa.String(length=200), nullable=True),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.CheckConstraint(
            "status IN ('draft', 'approved', 'deprecated')",
            name=op.f("ck_regulatory_schemas_status"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_regulatory_schemas")),
    )
    op.create_index(
        "idx_regulatory_schemas_created_at", "regulatory_schemas", ["created_at"], unique=False
    )
    op.create_index(
        "idx_regulatory_schemas_regulatory_type",
        "regulatory_schemas",
        ["regulatory_type"],
        unique=False,
    )
    op.create_index(
        "idx_regulatory_schemas_type_version",
        "regulatory_schemas",
        ["regulatory_type", "version"],
        unique=True,
    )
    op.create_index(
        "idx_regulatory_schemas_version", "regulatory_schemas", ["version"], unique=False
    )

    op.create_table(
        "search_history",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=200), nullable=True),
        sa.Column("query", sa.Text(), nullable=False),
        sa.Column("filters", JSON, nullable=False),
        sa.Column("result_count", sa.Integer(), nullable=False),
        sa.Column("clicked", sa.Boolean(), nullable=False),
        sa.Column("clicked_product_id", sa.String(length=36), nullable=True),
        sa.Column("timestamp", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_search_history")),
    )
    op.create_index("idx_search_history_query", "search_history", ["query"], unique=False)
    op.create_index("idx_search_history_timestamp", "search_history", ["timestamp"], unique=False)
    op.create_index(
        "idx_search_history_user_id", "search_history", ["user_id", "timestamp"], unique=False
    )

    op.create_table(
        "tags",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("category", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("parent_tag_id", sa.String(length=36), nullable=True),
        sa.Column("usage_count", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.CheckConstraint("usage_count >= 0", name=op.f("ck_tags_usage_count_not_negative")),
        sa.ForeignKeyConstraint(
            ["parent_tag_id"],
            ["tags.id"],
            name=op.f("fk_tags_parent_tag_id_tags"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tags")),
    )
    op.create_index("idx_tags_category", "tags", ["category"], unique=False)
    op.create_index("idx_tags_name", "tags", ["name"], unique=True)
    op.create_index("idx_tags_parent_tag_id", "tags", ["parent_tag_id"], unique=False)

    op.create_table(
        "value_domains",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("type", sa.String(length=20), nullable=False),
        sa.Column("data_type", sa.String(length=20), nullable=False),
        sa.Column("unit_of_measure", sa.String(length=50), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("constraints", JSON, nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.CheckConstraint(
            "data_type IN ('string', 'integer', 'decimal', 'boolean', 'date', 'datetime')",
            name=op.f("ck_value_domains_data_type"),
        ),
        sa.CheckConstraint(
            "type IN ('enumerated', 'non_enumerated')", name=op.f("ck_value_domains_type")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_value_domains")),
        sa.UniqueConstraint("name", name=op.f("uq_value_domains_name")),
    )
    op.create_table(
        "access_requests",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("product_id", sa.String(length=36), nullable=False),
        sa.Column("requester", sa.String(length=200), nullable=False),
        sa.Column("requester_team", sa.String(length=200), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(length=200), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_comments", sa.Text(), nullable=True),
        sa.Column("revoked_by", sa.String(length=200), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoke_comments", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'approved', 'rejected', 'revoked', 'cancelled')",
            name=op.f("ck_access_requests_status"),
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["data_products.id"],
            name=op.f("fk_access_requests_product_id_data_products"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_requests")),
    )
    op.create_index(
        "idx_access_requests_product_id", "access_requests", ["product_id"], unique=False
    )
    op.create_index(
        "idx_access_requests_requested_at", "access_requests", ["requested_at"], unique=False
    )
    op.create_index("idx_access_requests_requester", "access_requests", ["requester"], unique=False)
    op.create_index("idx_access_requests_status", "access_requests", ["status"], unique=False)

    op.create_table(
        "data_product_versions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("product_id", sa.String(length=36), nullable=False),
        sa.Column("version", sa.String(length=100), nullable=False),
        sa.Column("major", sa.Integer(), nullable=False),
        sa.Column("minor", sa.Integer(), nullable=False),
        sa.Column("patch", sa.Integer(), nullable=False),
        sa.Column("prerelease", sa.String(length=100), nullable=True),
        sa.Column("build", sa.String(length=100), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("snapshot", JSON, nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.Column("deprecated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deprecation_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["data_products.id"],
            name=op.f("fk_data_product_versions_product_id_data_products"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_product_versions")),
        sa.UniqueConstraint(
            "product_id", "version", name=op.f("uq_data_product_versions_product_id_version")
        ),
    )
    op.create_index(
        "idx_data_product_versions_created_at",
        "data_product_versions",
        ["created_at"],
        unique=False,
    )
    op.create_index(
        "idx_data_product_versions_product_id",
        "data_product_versions",
        ["product_id"],
        unique=False,
    )
    op.create_index(
        "idx_data_product_versions_version", "data_product_versions", ["version"], unique=False
    )

    op.create_table(
        "permissible_values",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("value_domain_id", sa.String(length=36), nullable=False),
        sa.Column("value", sa.String(length=200), nullable=False),
        sa.Column("meaning", sa.Text(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["value_domain_id"],
            ["value_domains.id"],
            name=op.f("fk_permissible_values_value_domain_id_value_domains"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_permissible_values")),
        sa.UniqueConstraint(
            "value_domain_id", "value", name=op.f("uq_permissible_values_value_domain_id_value")
        ),
    )
    op.create_index(
        op.f("ix_permissible_values_value_domain_id"),
        "permissible_values",
        ["value_domain_id"],
        unique=False,
    )

    op.create_table(
        "product_ratings",
        sa.Column("product_id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=200), nullable=False),
        sa.Column("rating", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.CheckConstraint("rating BETWEEN 1 AND 5", name=op.f("ck_product_ratings_rating_range")),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["data_products.id"],
            name=op.f("fk_product_ratings_product_id_data_products"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("product_id", "user_id", name=op.f("pk_product_ratings")),
    )
    op.create_table(
        "product_tags",
        sa.Column("product_id", sa.String(length=36), nullable=False),
        sa.Column("tag_id", sa.String(length=36), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.CheckConstraint(
            "source IN ('manual', 'auto', 'suggested')", name=op.f("ck_product_tags_source")
        ),
        sa.CheckConstraint(
            "confidence >= 0 AND confidence <= 1", name=op.f("ck_product_tags_confidence_range")
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["data_products.id"],
            name=op.f("fk_product_tags_product_id_data_products"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tag_id"], ["tags.id"], name=op.f("fk_product_tags_tag_id_tags"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("product_id", "tag_id", name=op.f("pk_product_tags")),
    )
    op.create_index("idx_product_tags_created_at", "product_tags", ["created_at"], unique=False)
    op.create_index("idx_product_tags_product_id", "product_tags", ["product_id"], unique=False)
    op.create_index("idx_product_tags_tag_id", "product_tags", ["tag_id"], unique=False)

    op.create_table(
        "product_usage_stats",
        sa.Column("product_id", sa.String(length=36), nullable=False),
        sa.Column("view_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("unique_viewers", sa.Integer(), server_default="0", nullable=False),
        sa.Column("access_requests", sa.Integer(), server_default="0", nullable=False),
        sa.Column("approved_access", sa.Integer(), server_default="0", nullable=False),
        sa.Column("rejected_access", sa.Integer(), server_default="0", nullable=False),
        sa.Column("rating_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("rating_sum", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_viewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["data_products.id"],
            name=op.f("fk_product_usage_stats_product_id_data_products"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("product_id", name=op.f("pk_product_usage_stats")),
    )
    op.create_index(
        "idx_product_usage_stats_updated_at", "product_usage_stats", ["updated_at"], unique=False
    )

    op.create_table(
        "product_viewers",
        sa.Column("product_id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=200), nullable=False),
        sa.Column(
            "first_viewed_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["data_products.id"],
            name=op.f("fk_product_viewers_product_id_data_products"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("product_id", "user_id", name=op.f("pk_product_viewers")),
    )
    op.create_table(
        "representations",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("format", sa.String(length=100), nullable=True),
        sa.Column("data_type", sa.String(length=20), nullable=False),
        sa.Column("length", sa.Integer(), nullable=True),
        sa.Column("precision", sa.Integer(), nullable=True),
        sa.Column("scale", sa.Integer(), nullable=True),
        sa.Column("unit_of_measure", sa.String(length=50), nullable=True),
        sa.Column("value_domain_id", sa.String(length=36), nullable=True),
        sa.Column("created_by", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.CheckConstraint(
            "data_type IN ('string', 'integer', 'decimal', 'boolean', 'date', 'datetime')",
            name=op.f("ck_representations_data_type"),
        ),
        sa.ForeignKeyConstraint(
            ["value_domain_id"],
            ["value_domains.id"],
            name=op.f("fk_representations_value_domain_id_value_domains"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_representations")),
        sa.UniqueConstraint("name", name=op.f("uq_representations_name")),
    )
    op.create_index(
        op.f("ix_representations_value_domain_id"),
        "representations",
        ["value_domain_id"],
        unique=False,
    )

    op.create_table(
        "schema_changes",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("schema_id", sa.String(length=36), nullable=False),
        sa.Column("previous_schema_id", sa.String(length=36), nullable=True),
        sa.Column("field_path", sa.String(length=500), nullable=False),
        sa.Column("change_type", sa.String(length=20), nullable=False),
        sa.Column("old_value", JSON, nullable=True),
        sa.Column("new_value", JSON, nullable=True),
        sa.Column("breaking", sa.Boolean(), nullable=False),
        sa.Column("detected_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.CheckConstraint(
            "change_type IN ('added', 'modified', 'removed')",
            name=op.f("ck_schema_changes_change_type"),
        ),
        sa.ForeignKeyConstraint(
            ["previous_schema_id"],
            ["regulatory_schemas.id"],
            name=op.f("fk_schema_changes_previous_schema_id_regulatory_schemas"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["schema_id"],
            ["regulatory_schemas.id"],
            name=op.f("fk_schema_changes_schema_id_regulatory_schemas"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schema_changes")),
    )
    op.create_index("idx_schema_changes_schema_id", "schema_changes", ["schema_id"], unique=False)
    op.create_index(
        op.f("ix_schema_changes_previous_schema_id"),
        "schema_changes",
        ["previous_schema_id"],
        unique=False,
    )

    op.create_table(
        "data_elements",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("identifier", sa.String(length=500), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("definition", sa.Text(), nullable=False),
        sa.Column("data_element_concept_id", sa.String(length=36), nullable=True),
        sa.Column("representation_id", sa.String(length=36), nullable=True),
        sa.Column("steward", sa.String(length=200), nullable=True),
        sa.Column("source", sa.String(length=200), nullable=True),
        sa.Column("registration_status", sa.String(length=20), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("quality_score", sa.Float(), nullable=True),
        sa.Column("quality_level", sa.String(length=20), nullable=True),
        sa.Column("metadata", JSON, nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deprecated_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "registration_status IN ('draft', 'published', 'deprecated', 'archived')",
            name=op.f("ck_data_elements_registration_status"),
        ),
        sa.ForeignKeyConstraint(
            ["data_element_concept_id"],
            ["data_element_concepts.id"],
            name=op.f("fk_data_elements_data_element_concept_id_data_element_concepts"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["representation_id"],
            ["representations.id"],
            name=op.f("fk_data_elements_representation_id_representations"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_elements")),
        sa.UniqueConstraint("identifier", name=op.f("uq_data_elements_identifier")),
        sa.UniqueConstraint("name", name=op.f("uq_data_elements_name")),
    )
    op.create_index("idx_data_elements_created_at", "data_elements", ["created_at"], unique=False)
    op.create_index(
        "idx_data_elements_registration_status",
        "data_elements",
        ["registration_status"],
        unique=False,
    )
    op.create_index(
        op.f("ix_data_elements_data_element_concept_id"),
        "data_elements",
        ["data_element_concept_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_data_elements_representation_id"),
        "data_elements",
        ["representation_id"],
        unique=False,
    )

    op.create_table(
        "product_elements",
        sa.Column("product_id", sa.String(length=36), nullable=False),
        sa.Column("data_element_id", sa.String(length=36), nullable=False),
        sa.Column("role", sa.String(length=100), nullable=True),
        sa.Column("added_by", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.ForeignKeyConstraint(
            ["data_element_id"],
            ["data_elements.id"],
            name=op.f("fk_product_elements_data_element_id_data_elements"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["data_products.id"],
            name=op.f("fk_product_elements_product_id_data_products"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("product_id", "data_element_id", name=op.f("pk_product_elements")),
    )
    op.create_index(
        op.f("ix_product_elements_data_element_id"),
        "product_elements",
        ["data_element_id"],
        unique=False,
    )

    op.create_table(
        "quality_measurements",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("data_element_id", sa.String(length=36), nullable=False),
        sa.Column("completeness", sa.Float(), nullable=False),
        sa.Column("accuracy", sa.Float(), nullable=False),
        sa.Column("consistency", sa.Float(), nullable=False),
        sa.Column("timeliness", sa.Float(), nullable=False),
        sa.Column("overall_score", sa.Float(), nullable=False),
        sa.Column("level", sa.String(length=20), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=True),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("measured_by", sa.String(length=200), nullable=True),
        sa.Column("measured_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.CheckConstraint(
            "accuracy >= 0 AND accuracy <= 1", name=op.f("ck_quality_measurements_accuracy_range")
        ),
        sa.CheckConstraint(
            "completeness >= 0 AND completeness <= 1",
            name=op.f("ck_quality_measurements_completeness_range"),
        ),
        sa.CheckConstraint(
            "consistency >= 0 AND consistency <= 1",
            name=op.f("ck_quality_measurements_consistency_range"),
        ),
        sa.CheckConstraint(
            "timeliness >= 0 AND timeliness <= 1",
            name=op.f("ck_quality_measurements_timeliness_range"),
        ),
        sa.ForeignKeyConstraint(
            ["data_element_id"],
            ["data_elements.id"],
            name=op.f("fk_quality_measurements_data_element_id_data_elements"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quality_measurements")),
    )
    op.create_index(
        "idx_quality_measurements_element_time",
        "quality_measurements",
        ["data_element_id", "measured_at"],
        unique=False,
    )

    op.create_table(
        "schema_product_mappings",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("schema_id", sa.String(length=36), nullable=False),
        sa.Column("field_path", sa.String(length=500), nullable=False),
        sa.Column("product_id", sa.String(length=36), nullable=False),
        sa.Column("data_element_id", sa.String(length=36), nullable=True),
        sa.Column("transformation", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.ForeignKeyConstraint(
            ["data_element_id"],
            ["data_elements.id"],
            name=op.f("fk_schema_product_mappings_data_element_id_data_elements"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["data_products.id"],
            name=op.f("fk_schema_product_mappings_product_id_data_products"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["schema_id"],
            ["regulatory_schemas.id"],
            name=op.f("fk_schema_product_mappings_schema_id_regulatory_schemas"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schema_product_mappings")),
        sa.UniqueConstraint(
            "schema_id",
            "field_path",
            "product_id",
            "data_element_id",
            name=op.f("uq_schema_product_mappings_schema_id_field_path_product_id_data_element_id"),
        ),
    )
    op.create_index(
        "idx_schema_product_mappings_product_id",
        "schema_product_mappings",
        ["product_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_schema_product_mappings_data_element_id"),
        "schema_product_mappings",
        ["data_element_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_schema_product_mappings_schema_id"),
        "schema_product_mappings",
        ["schema_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_schema_product_mappings_schema_id"), table_name="schema_product_mappings"
    )
    op.drop_index(
        op.f("ix_schema_product_mappings_data_element_id"), table_name="schema_product_mappings"
    )
    op.drop_index("idx_schema_product_mappings_product_id")

    op.drop_table("schema_product_mappings")
    op.drop_index("idx_quality_measurements_element_time")

    op.drop_table("quality_measurements")
    op.drop_index(op.f("ix_product_elements_data_element_id"), table_name="product_elements")

    op.drop_table("product_elements")
    op.drop_index(op.f("ix_data_elements_representation_id"), table_name="data_elements")
    op.drop_index(op.f("ix_data_elements_data_element_concept_id"), table_name="data_elements")
    op.drop_index("idx_data_elements_registration_status")
    op.drop_index("idx_data_elements_created_at")

    op.drop_table("data_elements")
    op.drop_index(op.f("ix_schema_changes_previous_schema_id"), table_name="schema_changes")
    op.drop_index("idx_schema_changes_schema_id")

    op.drop_table("schema_changes")
    op.drop_index(op.f("ix_representations_value_domain_id"), table_name="representations")

    op.drop_table("representations")
    op.drop_table("product_viewers")
    op.drop_index("idx_product_usage_stats_updated_at")

    op.drop_table("product_usage_stats")
    op.drop_index("idx_product_tags_tag_id")
    op.drop_index("idx_product_tags_product_id")
    op.drop_index("idx_product_tags_created_at")

    op.drop_table("product_tags")
    op.drop_table("product_ratings")
    op.drop_index(op.f("ix_permissible_values_value_domain_id"), table_name="permissible_values")

    op.drop_table("permissible_values")
    op.drop_index("idx_data_product_versions_version")
    op.drop_index("idx_data_product_versions_product_id")
    op.drop_index("idx_data_product_versions_created_at")

    op.drop_table("data_product_versions")
    op.drop_index("idx_access_requests_status")
    op.drop_index("idx_access_requests_requester")
    op.drop_index("idx_access_requests_requested_at")
    op.drop_index("idx_access_requests_product_id")

    op.drop_table("access_requests")
    op.drop_table("value_domains")
    op.drop_index("idx_tags_parent_tag_id")
    op.drop_index("idx_tags_name")
    op.drop_index("idx_tags_category")

    op.drop_table("tags")
    op.drop_index("idx_search_history_user_id")
    op.drop_index("idx_search_history_timestamp")
    op.drop_index("idx_search_history_query")

    op.drop_table("search_history")
    op.drop_index("idx_regulatory_schemas_version")
    op.drop_index("idx_regulatory_schemas_type_version")
    op.drop_index("idx_regulatory_schemas_regulatory_type")
    op.drop_index("idx_regulatory_schemas_created_at")

    op.drop_table("regulatory_schemas")
    op.drop_index("idx_lineage_edges_downstream")

    op.drop_table("lineage_edges")
    op.drop_index("idx_langextract_audit_trail_user_id")
    op.drop_index("idx_langextract_audit_trail_timestamp")
    op.drop_index("idx_langextract_audit_trail_operation_type")
    op.drop_index("idx_langextract_audit_trail_extraction_id")

    op.drop_table("langextract_audit_trail")
    op.drop_index("idx_data_products_updated_at")
    op.drop_index("idx_data_products_team")
    op.drop_index("idx_data_products_status")
    op.drop_index("idx_data_products_category")

    op.drop_table("data_products")
    op.drop_table("data_element_concepts")
    op.drop_index("idx_audit_events_timestamp")
    op.drop_index("idx_audit_events_resource")
    op.drop_index("idx_audit_events_actor")
    op.drop_index("idx_audit_events_action")

    op.drop_table("audit_events")
    op.drop_index(op.f("ix_api_keys_prefix"), table_name="api_keys")

    op.drop_table("api_keys")
