"""introspect() against real databases: a throwaway PostgreSQL schema and a SQLite file."""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import make_url

from catalog.ingest.introspect import (
    DATA_TYPES,
    ColumnInfo,
    IntrospectionError,
    SourceInfo,
    TableInfo,
    introspect,
)
from catalog.kit.dataset_refs import column_ref, source_of_url, table_ref
from tests.support.db import raw_connection
from tests.support.servers import Servers, free_port

PASSWORD = "s3cr3t-Pa55word"
WIDE = 1500


def table(info: SourceInfo, schema: str, name: str) -> TableInfo:
    found = [t for t in info.tables if (t.schema, t.name) == (schema, name)]
    assert len(found) == 1, [(t.schema, t.name) for t in info.tables]
    return found[0]


def column(info: TableInfo, name: str) -> ColumnInfo:
    return next(c for c in info.columns if c.name == name)


def pg_ddl(s: str, other: str) -> list[str]:
    return [
        f'CREATE SCHEMA "{s}"',
        f'CREATE SCHEMA "{other}"',
        f"CREATE TYPE \"{s}\".order_status AS ENUM ('new', 'paid', 'shipped')",
        f"""CREATE TABLE "{s}".customers (
            id integer PRIMARY KEY,
            name varchar(40) NOT NULL,
            tier text CHECK (tier IN ('gold', 'silver')),
            created_at timestamptz DEFAULT now(),
            active boolean NOT NULL DEFAULT true,
            balance double precision,
            tags jsonb
        )""",
        f"COMMENT ON TABLE \"{s}\".customers IS 'People who buy'",
        f"COMMENT ON COLUMN \"{s}\".customers.name IS 'Full name'",
        f"""CREATE TABLE "{s}".orders (
            customer_id integer REFERENCES "{s}".customers (id),
            order_no integer,
            status "{s}".order_status NOT NULL DEFAULT 'new',
            amount numeric(12, 2),
            placed_on date,
            channel varchar(10) CHECK (channel IN ('web', 'shop')),
            note text CHECK (note = 'x' OR note = 'y'),
            qty bigint CHECK (qty > 0),
            PRIMARY KEY (customer_id, order_no)
        )""",
        f"""CREATE TABLE "{s}".order_lines (
            customer_id integer,
            order_no integer,
            line smallint,
            PRIMARY KEY (customer_id, order_no, line),
            FOREIGN KEY (customer_id, order_no) REFERENCES "{s}".orders (customer_id, order_no)
        )""",
        f"""CREATE VIEW "{s}".big_orders AS
            SELECT customer_id, order_no, amount FROM "{s}".orders WHERE amount > 100""",  # noqa: S608
        f"COMMENT ON VIEW \"{s}\".big_orders IS 'Orders over 100'",
        f'CREATE TABLE "{s}".tmp_scratch (x integer)',
        f'CREATE TABLE "{s}".wide ({", ".join(f"c{i:04d} integer" for i in range(WIDE))})',
        f"""CREATE TABLE "{other}".invoices (
            id integer PRIMARY KEY,
            customer_id integer REFERENCES "{s}".customers (id)
        )""",
    ]


@pytest.fixture(scope="module")
async def pg_schemas(servers: Servers) -> AsyncIterator[tuple[str, str, str]]:
    """(url, schema, other schema): two schemas of our own in the shared database."""
    url = servers.database_url
    schema = f"ingest_{secrets.token_hex(4)}"
    other = f"{schema}_b"
    connection = await raw_connection(url)
    try:
        for statement in pg_ddl(schema, other):
            await connection.execute(statement)
        yield url, schema, other
    finally:
        await connection.execute(f'DROP SCHEMA IF EXISTS "{other}" CASCADE')
        await connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await connection.close()


async def test_postgres_tables_columns_keys_and_comments(pg_schemas: tuple[str, str, str]) -> None:
    url, s, _ = pg_schemas
    info = await introspect(url, schemas=[s], exclude=["wide"])
    source = source_of_url(url)
    assert info.source == source
    assert [t.name for t in info.tables] == [
        "big_orders",
        "customers",
        "order_lines",
        "orders",
        "tmp_scratch",
    ]

    customers = table(info, s, "customers")
    assert customers.kind == "table"
    assert customers.comment == "People who buy"
    assert customers.ref == table_ref(source, s, "customers")
    assert [c.name for c in customers.columns] == [
        "id",
        "name",
        "tier",
        "created_at",
        "active",
        "balance",
        "tags",
    ]
    name = column(customers, "name")
    assert (name.physical_type, name.data_type, name.length) == ("varchar(40)", "string", 40)
    assert (name.nullable, name.comment, name.primary_key) == (False, "Full name", False)
    assert name.ref == column_ref(customers.ref, "name")
    assert column(customers, "id").primary_key
    assert column(customers, "id").data_type == "integer"
    tier = column(customers, "tier")
    assert (tier.physical_type, tier.enum_values, tier.enum_name) == (
        "text",
        ("gold", "silver"),
        None,
    )
    created = column(customers, "created_at")
    assert (created.data_type, created.default) == ("datetime", "now()")
    active = column(customers, "active")
    assert (active.data_type, active.default, active.nullable) == ("boolean", "true", False)
    assert column(customers, "balance").data_type == "decimal"
    assert column(customers, "tags").physical_type == "jsonb"
    assert column(customers, "tags").data_type == "string"
    assert column(customers, "tags").comment == ""
    assert customers.foreign_keys == ()

    orders = table(info, s, "orders")
    assert [c.name for c in orders.columns if c.primary_key] == ["customer_id", "order_no"]
    status = column(orders, "status")
    assert status.physical_type == "order_status"
    assert status.enum_name == "order_status"
    assert status.enum_values == ("new", "paid", "shipped")
    assert status.data_type == "string"
    assert status.default is not None
    assert status.default.startswith("'new'")
    amount = column(orders, "amount")
    assert (amount.physical_type, amount.data_type) == ("numeric(12, 2)", "decimal")
    assert (amount.precision, amount.scale, amount.length) == (12, 2, None)
    assert column(orders, "placed_on").data_type == "date"
    # PostgreSQL keeps `channel IN (...)` as `(channel)::text = ANY ((ARRAY[...])::text[])`.
    assert column(orders, "channel").enum_values == ("web", "shop")
    assert column(orders, "note").enum_values == ("x", "y")
    assert column(orders, "qty").enum_values == ()
    assert column(orders, "qty").data_type == "integer"
    assert column(orders, "customer_id").enum_values == ()
    (fk,) = orders.foreign_keys
    assert (fk.columns, fk.referred_schema, fk.referred_table, fk.referred_columns) == (
        ("customer_id",),
        s,
        "customers",
        ("id",),
    )
    assert fk.referred_ref == customers.ref

    lines = table(info, s, "order_lines")
    assert [c.name for c in lines.columns if c.primary_key] == ["customer_id", "order_no", "line"]
    assert column(lines, "line").physical_type == "smallint"
    (fk,) = lines.foreign_keys
    assert fk.columns == ("customer_id", "order_no")
    assert fk.referred_columns == ("customer_id", "order_no")
    assert fk.referred_ref == orders.ref

    view = table(info, s, "big_orders")
    assert (view.kind, view.comment, view.foreign_keys) == ("view", "Orders over 100", ())
    assert [c.name for c in view.columns] == ["customer_id", "order_no", "amount"]
    assert column(view, "amount").physical_type == "numeric(12, 2)"
    assert not any(c.primary_key for c in view.columns)

    for t in info.tables:
        for c in t.columns:
            assert c.data_type in DATA_TYPES


async def test_postgres_several_schemas_and_cross_schema_keys(
    pg_schemas: tuple[str, str, str],
) -> None:
    url, s, other = pg_schemas
    info = await introspect(url, schemas=[other, s], include=["customers", "invoices"])
    assert [(t.schema, t.name) for t in info.tables] == [(s, "customers"), (other, "invoices")]
    (fk,) = table(info, other, "invoices").foreign_keys
    assert (fk.referred_schema, fk.referred_table) == (s, "customers")
    assert fk.referred_ref == table(info, s, "customers").ref


async def test_postgres_include_and_exclude(pg_schemas: tuple[str, str, str]) -> None:
    url, s, _ = pg_schemas

    async def names(include: list[str], exclude: list[str]) -> list[str]:
        info = await introspect(url, schemas=[s], include=include, exclude=exclude)
        return [t.name for t in info.tables]

    assert await names(["order*"], []) == ["order_lines", "orders"]
    assert await names([f"{s}.cust*"], []) == ["customers"]  # schema.table
    assert await names(["*"], ["tmp_*", "wide", f"{s}.order_?ines"]) == [
        "big_orders",
        "customers",
        "orders",
    ]
    assert await names(["orders"], ["orders"]) == []  # exclude wins
    assert await names(["other_schema.orders"], []) == []
    assert await names(["nothing*"], []) == []


async def test_postgres_wide_table(pg_schemas: tuple[str, str, str]) -> None:
    url, s, _ = pg_schemas
    info = await introspect(url, schemas=[s], include=["wide"])
    (wide,) = info.tables
    assert [c.name for c in wide.columns] == [f"c{i:04d}" for i in range(WIDE)]
    assert {c.physical_type for c in wide.columns} == {"integer"}


async def test_postgres_default_schema_is_public(servers: Servers) -> None:
    url = servers.database_url
    name = f"ingest_{secrets.token_hex(4)}"
    connection = await raw_connection(url)
    try:
        await connection.execute(f'CREATE TABLE public."{name}" (id integer PRIMARY KEY)')
        # postgres:// without a driver is asyncpg too
        postgres_url = url.replace("postgresql://", "postgres://", 1)
        info = await introspect(postgres_url, include=[name])
        (found,) = info.tables
        assert (found.schema, found.name, found.kind) == ("public", name, "table")
        assert found.ref == table_ref(source_of_url(url), "public", name)
    finally:
        await connection.execute(f'DROP TABLE IF EXISTS public."{name}"')
        await connection.close()


def make_sqlite(path: Path) -> None:
    connection = sqlite3.connect(path)
    connection.executescript(
        """
        CREATE TABLE customers (
            id INTEGER PRIMARY KEY,
            name VARCHAR(40) NOT NULL,
            tier TEXT CHECK (tier IN ('gold', 'silver')) DEFAULT 'gold',
            amount NUMERIC(10, 2),
            joined DATE,
            seen DATETIME,
            vip BOOLEAN
        );
        CREATE TABLE orders (
            customer_id INTEGER REFERENCES customers (id),
            order_no INTEGER,
            channel TEXT,
            PRIMARY KEY (customer_id, order_no),
            CONSTRAINT channel_values CHECK ("channel" IN ('web', 'shop'))
        );
        CREATE VIEW gold AS SELECT id, name FROM customers WHERE tier = 'gold';
        """
    )
    connection.close()


@pytest.mark.parametrize("driver", ["sqlite", "sqlite+pysqlite"])  # async and thread paths
async def test_sqlite(tmp_path: Path, driver: str) -> None:
    path = tmp_path / "shop.db"
    make_sqlite(path)
    url = f"{driver}:///{path}"
    info = await introspect(url)
    assert info.source == f"sqlite://{path}"
    assert [(t.schema, t.name, t.kind) for t in info.tables] == [
        ("main", "customers", "table"),
        ("main", "gold", "view"),
        ("main", "orders", "table"),
    ]
    customers = table(info, "main", "customers")
    assert customers.comment == ""
    assert customers.ref == table_ref(info.source, "main", "customers")
    types = [(c.name, c.physical_type, c.data_type) for c in customers.columns]
    assert types == [
        ("id", "integer", "integer"),
        ("name", "varchar(40)", "string"),
        ("tier", "text", "string"),
        ("amount", "numeric(10, 2)", "decimal"),
        ("joined", "date", "date"),
        ("seen", "datetime", "datetime"),
        ("vip", "boolean", "boolean"),
    ]
    tier = column(customers, "tier")
    assert (tier.enum_values, tier.default) == (("gold", "silver"), "'gold'")
    assert column(customers, "name").length == 40
    assert column(customers, "id").primary_key

    orders = table(info, "main", "orders")
    assert [c.name for c in orders.columns if c.primary_key] == ["customer_id", "order_no"]
    assert column(orders, "channel").enum_values == ("web", "shop")
    (fk,) = orders.foreign_keys
    assert (fk.columns, fk.referred_schema, fk.referred_table, fk.referred_columns) == (
        ("customer_id",),
        "main",
        "customers",
        ("id",),
    )
    assert fk.referred_ref == customers.ref

    gold = table(info, "main", "gold")
    assert [c.name for c in gold.columns] == ["id", "name"]
    assert gold.foreign_keys == ()

    assert [t.name for t in (await introspect(url, exclude=["main.c*"])).tables] == [
        "gold",
        "orders",
    ]


async def test_missing_sqlite_file_is_not_created(tmp_path: Path) -> None:
    path = tmp_path / "typo.db"
    with pytest.raises(IntrospectionError, match="no such SQLite file"):
        await introspect(f"sqlite:///{path}")
    assert not path.exists()


async def test_missing_schema(pg_schemas: tuple[str, str, str]) -> None:
    url, s, _ = pg_schemas
    with pytest.raises(IntrospectionError, match=f"no such schema: {s}_nope"):
        await introspect(url, schemas=[s, f"{s}_nope"])


async def test_errors_never_show_the_password(servers: Servers) -> None:
    admin = make_url(servers.database_url)
    with_password = admin.set(password=PASSWORD)
    closed = free_port()
    urls = {
        # nothing listens there
        "refused": with_password.set(host="127.0.0.1", port=closed),
        # the server answers and says no
        "unknown role": with_password.set(username=f"nobody_{secrets.token_hex(4)}"),
        "unknown database": with_password.set(database=f"nodb_{secrets.token_hex(4)}"),
        # no pymysql in this environment; were it installed, the closed port refuses instead
        "driver": with_password.set(drivername="mysql+pymysql", host="127.0.0.1", port=closed),
        "dialect": with_password.set(drivername="nosuchdb"),
    }
    for case, url in urls.items():
        text = url.render_as_string(hide_password=False)
        assert PASSWORD in text
        with pytest.raises(IntrospectionError) as caught:
            await introspect(text)
        message = str(caught.value)
        assert PASSWORD not in message, (case, message)
        assert PASSWORD not in repr(caught.value), case
        assert message.startswith(("cannot introspect", "no SQLAlchemy dialect")), message
        assert "***" in message, (case, message)
    with pytest.raises(IntrospectionError) as caught:
        await introspect(f"::not a url:{PASSWORD}@")
    assert PASSWORD not in str(caught.value)
