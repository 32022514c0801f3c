"""Run Alembic migrations from code (`catalog migrate`, tests) without an alembic.ini."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).parent / "migrations"

# Objects migrations create for one database only (search indexes), not in the models.
DIALECT_ONLY = frozenset(
    {
        "search_vector",
        "idx_product_search_vector",
        "idx_product_search_name_trgm",
        "idx_data_products_name_trgm",
        "idx_tags_name_trgm",
        "idx_data_elements_name_trgm",
        "idx_data_products_name_prefix",
        "idx_tags_name_prefix",
        "idx_data_elements_name_prefix",
        "product_search_fts",
        "name_trigrams",
    }
)


def include_object(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    """Autogenerate filter: leave the dialect-only search objects (and FTS5 shadow tables) be."""
    if name is None:
        return True
    return name not in DIALECT_ONLY and not name.startswith(
        ("product_search_fts_", "name_trigrams_")
    )


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # `%` would be read as interpolation by configparser (passwords can contain it).
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as connection:
        return await connection.run_sync(
            lambda sync: MigrationContext.configure(sync).get_current_revision()
        )
