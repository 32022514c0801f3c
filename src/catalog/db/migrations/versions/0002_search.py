"""Search: the product search document, and each database's own text indexes on it.

PostgreSQL: pg_trgm; a generated, weighted tsvector (name A > tags B > description C >
elements D) with a GIN index; trigram GIN indexes on the names search and suggestions match
fuzzily (product search document, products, tags, data elements).

SQLite: FTS5 `product_search_fts` (external content on product_search, kept in sync by
triggers) for words and prefixes, and FTS5 `name_trigrams` (trigram tokenizer, its own copy
of the text) over product, tag and element names, kept in sync by triggers on those tables,
for suggestions and typos. Its rows are found by `ref_id` on delete and rename, a scan of the
name index: renames and deletes are rare, inserts (the bulk path) stay cheap.

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

PG_VECTOR = """
    setweight(to_tsvector('simple', coalesce(name, '')), 'A') ||
    setweight(to_tsvector('simple', coalesce(tags_text, '')), 'B') ||
    setweight(to_tsvector('simple', coalesce(description, '')), 'C') ||
    setweight(to_tsvector('simple', coalesce(elements_text, '')), 'D')
"""
PG_TRIGRAM_INDEXES = {
    "idx_product_search_name_trgm": "product_search",
    "idx_data_products_name_trgm": "data_products",
    "idx_tags_name_trgm": "tags",
    "idx_data_elements_name_trgm": "data_elements",
}

PREFIX_INDEXES = {
    "idx_data_products_name_prefix": "data_products",
    "idx_tags_name_prefix": "tags",
    "idx_data_elements_name_prefix": "data_elements",
}

# (table, kind) whose names feed the SQLite trigram table.
SQLITE_NAME_SOURCES = (("data_products", "product"), ("tags", "tag"), ("data_elements", "element"))


def upgrade() -> None:
    op.create_table(
        "product_search",
        # An integer key: SQLite's FTS index refers to rows by rowid, and only an INTEGER
        # PRIMARY KEY keeps rowids stable across VACUUM.
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("product_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("team", sa.String(length=200), nullable=False),
        sa.Column("category", sa.String(length=200), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("visibility", sa.String(length=20), nullable=False),
        sa.Column("tags_text", sa.Text(), nullable=False),
        sa.Column("tag_names", JSON, nullable=False),
        sa.Column("elements_text", sa.Text(), nullable=False),
        sa.Column("quality_score", sa.Float(), nullable=True),
        sa.Column("latest_version", sa.String(length=100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["data_products.id"],
            name=op.f("fk_product_search_product_id_data_products"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product_search")),
        sa.UniqueConstraint("product_id", name=op.f("uq_product_search_product_id")),
    )
    for column in ("team", "category", "status", "updated_at", "name"):
        op.create_index(f"idx_product_search_{column}", "product_search", [column])

    if op.get_bind().dialect.name == "postgresql":
        _postgresql_upgrade()
    else:
        _sqlite_upgrade()


def _postgresql_upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.execute(
        f"ALTER TABLE product_search ADD COLUMN search_vector tsvector "
        f"GENERATED ALWAYS AS ({PG_VECTOR}) STORED"
    )
    op.execute("CREATE INDEX idx_product_search_vector ON product_search USING gin (search_vector)")
    for index, table in PG_TRIGRAM_INDEXES.items():
        op.execute(f"CREATE INDEX {index} ON {table} USING gin (name gin_trgm_ops)")
    # Case-insensitive prefix lookups (suggestions) of any length, trigram or not.
    for index, table in PREFIX_INDEXES.items():
        op.execute(f"CREATE INDEX {index} ON {table} (lower(name) text_pattern_ops)")


def _sqlite_upgrade() -> None:
    # LIKE 'prefix%' uses an index only when the index is NOCASE, as LIKE is.
    for index, table in PREFIX_INDEXES.items():
        op.execute(f"CREATE INDEX {index} ON {table} (name COLLATE NOCASE)")
    op.execute(
        "CREATE VIRTUAL TABLE product_search_fts USING fts5("
        "name, tags_text, description, elements_text, "
        "content='product_search', content_rowid='id', "
        "tokenize='unicode61 remove_diacritics 2', prefix='2 3')"
    )
    columns = "name, tags_text, description, elements_text"
    new = "new.name, new.tags_text, new.description, new.elements_text"
    old = "old.name, old.tags_text, old.description, old.elements_text"
    op.execute(
        f"CREATE TRIGGER product_search_ai AFTER INSERT ON product_search BEGIN "
        f"INSERT INTO product_search_fts(rowid, {columns}) VALUES (new.id, {new}); END"
    )
    op.execute(
        f"CREATE TRIGGER product_search_ad AFTER DELETE ON product_search BEGIN "
        f"INSERT INTO product_search_fts(product_search_fts, rowid, {columns}) "
        f"VALUES ('delete', old.id, {old}); END"
    )
    op.execute(
        f"CREATE TRIGGER product_search_au AFTER UPDATE ON product_search BEGIN "
        f"INSERT INTO product_search_fts(product_search_fts, rowid, {columns}) "
        f"VALUES ('delete', old.id, {old}); "
        f"INSERT INTO product_search_fts(rowid, {columns}) VALUES (new.id, {new}); END"
    )
    op.execute(
        "CREATE VIRTUAL TABLE name_trigrams USING fts5("
        "name, kind UNINDEXED, ref_id UNINDEXED, tokenize='trigram case_sensitive 0')"
    )
    for table, kind in SQLITE_NAME_SOURCES:
        op.execute(
            f"INSERT INTO name_trigrams(name, kind, ref_id) SELECT name, '{kind}', id FROM {table}"
        )
        op.execute(
            f"CREATE TRIGGER {table}_names_ai AFTER INSERT ON {table} BEGIN "
            f"INSERT INTO name_trigrams(name, kind, ref_id) VALUES (new.name, '{kind}', new.id); "
            f"END"
        )
        op.execute(
            f"CREATE TRIGGER {table}_names_ad AFTER DELETE ON {table} BEGIN "
            f"DELETE FROM name_trigrams WHERE kind = '{kind}' AND ref_id = old.id; END"
        )
        op.execute(
            f"CREATE TRIGGER {table}_names_au AFTER UPDATE OF name ON {table} BEGIN "
            f"UPDATE name_trigrams SET name = new.name WHERE kind = '{kind}' AND ref_id = old.id; "
            f"END"
        )


def downgrade() -> None:
    for index in PREFIX_INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {index}")
    if op.get_bind().dialect.name == "postgresql":
        for index in PG_TRIGRAM_INDEXES:
            op.execute(f"DROP INDEX IF EXISTS {index}")
    else:
        for table, _ in SQLITE_NAME_SOURCES:
            for suffix in ("ai", "ad", "au"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_names_{suffix}")
        op.execute("DROP TABLE IF EXISTS name_trigrams")
        for suffix in ("ai", "ad", "au"):
            op.execute(f"DROP TRIGGER IF EXISTS product_search_{suffix}")
        op.execute("DROP TABLE IF EXISTS product_search_fts")
    op.drop_table("product_search")
