"""Stable references of physical datasets and their columns, one spelling for every source.

The crawler (`catalog ingest`) and the OpenLineage intake both name tables they did not
create; a product found by either carries its reference so a re-run or a later event finds it
again instead of making a duplicate. The spelling follows OpenLineage's dataset naming
(namespace `scheme://authority`, name `database.schema.table`) so a table crawled from a
database and the same table named in a Spark or Airflow event meet on one product:

    postgres://db.example:5432/sales/public/orders          (crawler or OpenLineage)
    postgres://db.example:5432/sales/public/orders/amount   (a column: element identifier)
    sqlite:///srv/app.db/main/orders                         (a SQLite file)
    s3://bucket/path/to/file                                 (anything else: namespace/name)

Credentials never appear: they are dropped from the URL before anything is built from it.
"""

from __future__ import annotations

import hashlib
import os

from sqlalchemy.engine import make_url

REF_MAX = 500  # data_products.source_ref, data_elements.identifier
# SQLAlchemy dialect names -> OpenLineage's namespace schemes (the spec's naming document).
_SCHEMES = {"postgresql": "postgres", "postgres": "postgres", "mysql": "mysql", "mariadb": "mysql"}
_DEFAULT_PORTS = {"postgres": 5432, "mysql": 3306}
# Schemes whose dataset names are `database.schema.table` (split into path segments).
_THREE_PART = {"postgres", "redshift", "mssql", "sqlserver", "snowflake", "trino"}


def source_of_url(database_url: str) -> str:
    """The reference prefix of a database URL: `scheme://host:port/database`, no credentials
    and no driver (`postgresql+asyncpg://u:p@h/db` -> `postgres://h:5432/db`)."""
    url = make_url(database_url)
    dialect = url.get_backend_name()
    if dialect == "sqlite":
        # Absolute, so a file crawled from two working directories is one source.
        path = url.database or ":memory:"
        return f"sqlite://{path if path == ':memory:' else os.path.abspath(path)}"
    scheme = _SCHEMES.get(dialect, dialect)
    port = url.port or _DEFAULT_PORTS.get(scheme)
    authority = f"{url.host or 'localhost'}:{port}" if port else (url.host or "localhost")
    return f"{scheme}://{authority}/{url.database or ''}"


def table_ref(source: str, schema: str, table: str) -> str:
    return fit_ref(f"{source}/{schema}/{table}")


def column_ref(table: str, column: str) -> str:
    """`table` is a table_ref."""
    return fit_ref(f"{table}/{column}")


def fit_ref(ref: str) -> str:
    """A reference within REF_MAX characters: a longer one keeps its start and ends in a hash
    of the whole, so it stays unique and stable."""
    if len(ref) <= REF_MAX:
        return ref
    digest = hashlib.sha256(ref.encode()).hexdigest()[:16]
    return f"{ref[: REF_MAX - 17]}#{digest}"


def dataset_ref(namespace: str, name: str) -> str:
    """The reference of an OpenLineage dataset: the crawler's spelling where the namespace is a
    database it can crawl (`postgres://h:5432` + `db.schema.table`), else `namespace/name`."""
    namespace = namespace.rstrip("/")
    scheme = namespace.split("://", 1)[0].lower()
    parts = name.split(".")
    if scheme in _THREE_PART and len(parts) == 3 and all(parts):
        return fit_ref("/".join([namespace, *parts]))
    return fit_ref(f"{namespace}/{name.lstrip('/')}")
