"""The crawler end to end, through what a user touches: `catalog ingest` run as a process and
`POST /api/ingestion/runs`, crawling a real PostgreSQL schema made in the test (enum, CHECK IN,
comments, composite key, foreign keys, a view, a 1,500-column table) and a SQLite file; what
it made is read back through the HTTP API (products by reference, schemas, elements, value
domains, lineage, versions, audit events, search)."""

from __future__ import annotations

import asyncio
import secrets
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import make_url

from catalog.app import create_app
from catalog.kit.dataset_refs import source_of_url
from tests.conftest import base_settings
from tests.support import search
from tests.support.api import error_of, ok
from tests.support.db import raw_connection
from tests.support.process import run_catalog
from tests.support.servers import Servers, free_port
from tests.support.wait import until
from tests.test_auth import TOKENS, bearer, write_tokens

RUNS = "/api/ingestion/runs"
WIDE = 1500
PASSWORD = "Zq9-never-Shown-7Kp"
Opener = Callable[[FastAPI], Awaitable[AsyncClient]]


# --- the PostgreSQL source ------------------------------------------------------------------


def pg_ddl(s: str, *, wide: bool = False) -> list[str]:
    statements = [
        f'CREATE SCHEMA "{s}"',
        f"CREATE TYPE \"{s}\".order_status AS ENUM ('new', 'paid', 'shipped')",
        f"""CREATE TABLE "{s}".customers (
            id integer PRIMARY KEY,
            name varchar(40) NOT NULL,
            tier text CHECK (tier IN ('gold', 'silver', 'bronze')),
            balance numeric(12, 2),
            joined date
        )""",
        f"COMMENT ON TABLE \"{s}\".customers IS 'People who buy'",
        f"COMMENT ON COLUMN \"{s}\".customers.name IS 'Full name'",
        f"COMMENT ON COLUMN \"{s}\".customers.tier IS 'Loyalty tier'",
        f"""CREATE TABLE "{s}".orders (
            customer_id integer REFERENCES "{s}".customers (id),
            order_no integer,
            status "{s}".order_status NOT NULL DEFAULT 'new',
            amount numeric(10, 3),
            note varchar(200),
            PRIMARY KEY (customer_id, order_no)
        )""",
        f"COMMENT ON TABLE \"{s}\".orders IS 'What they bought'",
        f"COMMENT ON COLUMN \"{s}\".orders.status IS 'Where the order is'",
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
    ]
    if wide:
        columns = ", ".join(f"c{i:04d} integer" for i in range(WIDE))
        # Three of them: 4,500 columns in one chunk of tables, more elements and concepts
        # than one statement can bind parameters for (asyncpg's limit is 32,767).
        for name in ("wide", "wide_b", "wide_c"):
            statements.append(f'CREATE TABLE "{s}".{name} ({columns})')
    return statements


async def pg_connect(servers: Servers) -> asyncpg.Connection:
    return await raw_connection(servers.database_url)


class Source:
    """A schema of our own in the shared test database, dropped at the end."""

    def __init__(self, connection: asyncpg.Connection, url: str, schema: str) -> None:
        self.connection = connection
        self.url = url
        self.schema = schema
        self.source = source_of_url(url)
        self.made: list[str] = [schema]

    def ref(self, table: str, schema: str | None = None) -> str:
        return f"{self.source}/{schema or self.schema}/{table}"

    def name(self, table: str) -> str:
        return f"{self.schema}.{table}"

    async def execute(self, *statements: str) -> None:
        for statement in statements:
            await self.connection.execute(statement)

    async def other_schema(self) -> str:
        other = f"{self.schema}_b"
        self.made.append(other)
        await self.execute(
            f'CREATE SCHEMA "{other}"',
            f"""CREATE TABLE "{other}".invoices (
                id integer PRIMARY KEY,
                customer_id integer REFERENCES "{self.schema}".customers (id)
            )""",
        )
        return other

    async def drop(self) -> None:
        for schema in reversed(self.made):
            # One table per statement first: a schema of many tables dropped at once could
            # exceed max_locks_per_transaction.
            tables = await self.connection.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = $1", schema
            )
            for row in tables:
                await self.connection.execute(
                    f'DROP TABLE IF EXISTS "{schema}"."{row["tablename"]}" CASCADE'
                )
            await self.connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


async def make_source(servers: Servers, *, wide: bool = False) -> AsyncIterator[Source]:
    connection = await pg_connect(servers)
    source = Source(connection, servers.database_url, f"ingest_{secrets.token_hex(4)}")
    try:
        await source.execute(*pg_ddl(source.schema, wide=wide))
        yield source
    finally:
        await source.drop()
        await connection.close()


@pytest.fixture
async def pg_source(servers: Servers) -> AsyncIterator[Source]:
    async for source in make_source(servers):
        yield source


@pytest.fixture
async def wide_source(servers: Servers) -> AsyncIterator[Source]:
    async for source in make_source(servers, wide=True):
        yield source


# --- reading the catalog --------------------------------------------------------------------


async def crawl(client: AsyncClient, url: str, **body: Any) -> dict[str, Any]:
    """Start a run and wait (bounded) until it ends; the run as it ended."""
    run = ok(await client.post(RUNS, json={"url": url} | body), 202)
    assert run["status"] == "queued"
    seen: dict[str, Any] = {}

    async def ended() -> dict[str, Any] | None:
        seen.update(ok(await client.get(f"{RUNS}/{run['id']}")))
        return dict(seen) if seen["status"] in ("succeeded", "failed") else None

    return await until(ended, lambda: f"the ingestion run ending ({seen})", 60, 0.05)


async def crawled(client: AsyncClient, url: str, **body: Any) -> dict[str, Any]:
    run = await crawl(client, url, **body)
    assert run["status"] == "succeeded", run
    report: dict[str, Any] = run["report"]
    return report


async def product_of(client: AsyncClient, ref: str) -> dict[str, Any]:
    found = ok(await client.get("/api/data-products", params={"source_ref": ref}))
    assert found["total"] == 1, (ref, found)
    return found["items"][0]  # type: ignore[no-any-return]


async def absent(client: AsyncClient, ref: str) -> bool:
    found = ok(await client.get("/api/data-products", params={"source_ref": ref}))
    return found["total"] == 0  # type: ignore[no-any-return]


async def schema_of(client: AsyncClient, product_id: str) -> dict[str, Any]:
    return ok(await client.get(f"/api/data-products/{product_id}/schema"))  # type: ignore[no-any-return]


async def versions_of(client: AsyncClient, product_id: str) -> list[str]:
    listed = ok(await client.get(f"/api/data-products/{product_id}/versions"))
    return [v["version"] for v in listed["items"]]


async def domain_of_element(client: AsyncClient, element_id: str) -> dict[str, Any]:
    element = ok(await client.get(f"/api/data-elements/{element_id}"))
    representation = ok(await client.get(f"/api/representations/{element['representation_id']}"))
    assert representation["value_domain_id"], representation
    return ok(await client.get(f"/api/value-domains/{representation['value_domain_id']}"))  # type: ignore[no-any-return]


async def totals(client: AsyncClient) -> dict[str, int]:
    """What a write would move: products, elements, versions (every product's), audit events."""
    counts = {}
    for name, path in (
        ("products", "/api/data-products"),
        ("elements", "/api/data-elements"),
        ("audit", "/api/audit/events"),
        ("domains", "/api/value-domains"),
    ):
        counts[name] = ok(await client.get(path, params={"limit": 1}))["total"]
    products = ok(await client.get("/api/data-products", params={"limit": 200}))
    assert products["total"] <= 200
    counts["versions"] = 0
    for product in products["items"]:
        counts["versions"] += len(await versions_of(client, product["id"]))
    counts["deprecated"] = sum(p["status"] == "deprecated" for p in products["items"])
    return counts


def upstream_of(lineage: dict[str, Any], product_id: str) -> set[tuple[str, str]]:
    return {
        (e["upstream_id"], e["relationship"])
        for e in lineage["edges"]
        if e["downstream_id"] == product_id
    }


# --- through the API, on both catalog databases -----------------------------------------------


async def test_a_postgres_schema_becomes_products_with_schemas_elements_and_lineage(
    client: AsyncClient, wide_source: Source
) -> None:
    src = wide_source
    report = await crawled(client, src.url, schemas=[src.schema], team="sales")
    assert report["counts"] == {"create": 8, "update": 0, "unchanged": 0, "deprecate": 0}
    assert report["elements_created"] == 17 + 3 * WIDE
    assert report["warnings"] == []
    assert report["lineage_edges"] == 2

    customers = await product_of(client, src.ref("customers"))
    orders = await product_of(client, src.ref("orders"))
    lines = await product_of(client, src.ref("order_lines"))
    view = await product_of(client, src.ref("big_orders"))
    assert (customers["name"], customers["category"], customers["status"]) == (
        src.name("customers"),
        "table",
        "draft",
    )
    assert customers["description"] == "People who buy"
    assert customers["team"] == "sales"
    assert (view["category"], view["description"], view["status"]) == (
        "view",
        "Orders over 100",
        "draft",
    )
    assert orders["description"] == "What they bought"

    # Columns in order, with types (length, precision, scale), nullability, keys, comments.
    shape = [
        (c["name"], c["physical_type"], c["nullable"], c["primary_key"], c["description"])
        for c in (await schema_of(client, customers["id"]))["columns"]
    ]
    assert shape == [
        ("id", "integer", False, True, ""),
        ("name", "varchar(40)", False, False, "Full name"),
        ("tier", "text", True, False, "Loyalty tier"),
        ("balance", "numeric(12, 2)", True, False, ""),
        ("joined", "date", True, False, ""),
    ]
    order_schema = await schema_of(client, orders["id"])
    assert [(c["name"], c["primary_key"]) for c in order_schema["columns"]] == [
        ("customer_id", True),  # the composite key: both columns
        ("order_no", True),
        ("status", False),
        ("amount", False),
        ("note", False),
    ]
    status_column = order_schema["columns"][2]
    assert status_column["physical_type"] == "order_status"
    assert status_column["nullable"] is False
    assert status_column["description"] == "Where the order is"
    assert order_schema["columns"][3]["physical_type"] == "numeric(10, 3)"
    assert [c["primary_key"] for c in (await schema_of(client, lines["id"]))["columns"]] == [
        True,
        True,
        True,
    ]
    assert [c["name"] for c in (await schema_of(client, view["id"]))["columns"]] == [
        "customer_id",
        "order_no",
        "amount",
    ]

    # Every column is bound to its own element, identified by the column's reference.
    for product, table in ((customers, "customers"), (orders, "orders"), (view, "big_orders")):
        for column in (await schema_of(client, product["id"]))["columns"]:
            assert column["data_element_id"], column
            element = ok(await client.get(f"/api/data-elements/{column['data_element_id']}"))
            assert element["identifier"] == f"{src.ref(table)}/{column['name']}"
            assert element["definition"] == column["description"]

    # Representations carry length, precision and scale; enum and CHECK IN become
    # enumerated value domains with their values.
    name_column = (await schema_of(client, customers["id"]))["columns"][1]
    name_element = ok(await client.get(f"/api/data-elements/{name_column['data_element_id']}"))
    representation = ok(
        await client.get(f"/api/representations/{name_element['representation_id']}")
    )
    assert (representation["data_type"], representation["length"]) == ("string", 40)
    amount = order_schema["columns"][3]["data_element_id"]
    amount_element = ok(await client.get(f"/api/data-elements/{amount}"))
    amount_repr = ok(
        await client.get(f"/api/representations/{amount_element['representation_id']}")
    )
    assert (amount_repr["data_type"], amount_repr["precision"], amount_repr["scale"]) == (
        "decimal",
        10,
        3,
    )
    status_domain = await domain_of_element(client, status_column["data_element_id"])
    assert status_domain["type"] == "enumerated"
    assert [v["value"] for v in status_domain["permissible_values"]] == ["new", "paid", "shipped"]
    tier_id = (await schema_of(client, customers["id"]))["columns"][2]["data_element_id"]
    tier_domain = await domain_of_element(client, tier_id)
    assert tier_domain["type"] == "enumerated"
    assert [v["value"] for v in tier_domain["permissible_values"]] == ["gold", "silver", "bronze"]
    balance_id = (await schema_of(client, customers["id"]))["columns"][3]["data_element_id"]
    assert (await domain_of_element(client, balance_id))["type"] == "non_enumerated"

    # Governed: an element with a definition (the comment) and a value domain.
    assert customers["governed_column_coverage"] == pytest.approx(2 / 5)
    assert (await schema_of(client, customers["id"]))["governed_column_coverage"] == pytest.approx(
        2 / 5
    )
    assert (await product_of(client, src.ref("orders")))["governed_column_coverage"] == (
        pytest.approx(1 / 5)
    )
    assert (await product_of(client, src.ref("tmp_scratch")))["governed_column_coverage"] == 0

    # Foreign keys: the referred table's product is upstream of the referring one.
    lineage = ok(await client.get(f"/api/data-products/{orders['id']}/lineage"))
    assert upstream_of(lineage, orders["id"]) == {(customers["id"], "references")}
    lineage = ok(await client.get(f"/api/data-products/{lines['id']}/lineage"))
    assert upstream_of(lineage, lines["id"]) == {(orders["id"], "references")}

    # The wide table: all 1,500 columns, in order, each bound to its element.
    wide = await product_of(client, src.ref("wide"))
    wide_schema = await schema_of(client, wide["id"])
    assert [c["name"] for c in wide_schema["columns"]] == [f"c{i:04d}" for i in range(WIDE)]
    assert all(c["data_element_id"] for c in wide_schema["columns"])
    assert await versions_of(client, wide["id"]) == ["1.0.0"]
    for name in ("wide_b", "wide_c"):
        other = await schema_of(client, (await product_of(client, src.ref(name)))["id"])
        assert len(other["columns"]) == WIDE
        assert all(c["data_element_id"] for c in other["columns"])


async def test_a_rerun_writes_nothing_and_changes_make_versions_and_deprecations(
    client: AsyncClient, pg_source: Source
) -> None:
    src = pg_source
    await crawled(client, src.url, schemas=[src.schema])
    before = await totals(client)
    assert before["versions"] == 5  # one per table and view
    customers = await product_of(client, src.ref("customers"))

    report = await crawled(client, src.url, schemas=[src.schema])
    assert report["counts"] == {"create": 0, "update": 0, "unchanged": 5, "deprecate": 0}
    assert (report["elements_created"], report["elements_updated"]) == (0, 0)
    assert report["tables"] == []
    assert await totals(client) == before
    assert (await product_of(client, src.ref("customers")))["revision"] == customers["revision"]

    # An added column: a minor version.
    await src.execute(f'ALTER TABLE "{src.schema}".customers ADD COLUMN email varchar(120)')
    report = await crawled(client, src.url, schemas=[src.schema])
    assert report["counts"] == {"create": 0, "update": 1, "unchanged": 4, "deprecate": 0}
    (changed,) = report["tables"]
    assert (changed["ref"], changed["action"], changed["version"]) == (
        src.ref("customers"),
        "update",
        "1.1.0",
    )
    assert not changed.get("breaking")
    assert [(c["change_type"], c["field_path"]) for c in changed["changes"]] == [
        ("added", "columns.email")
    ]
    assert await versions_of(client, customers["id"]) == ["1.1.0", "1.0.0"]
    columns = (await schema_of(client, customers["id"]))["columns"]
    assert columns[-1]["name"] == "email"
    assert columns[-1]["physical_type"] == "varchar(120)"

    # A dropped column is breaking: a major version.
    await src.execute(f'ALTER TABLE "{src.schema}".customers DROP COLUMN balance')
    report = await crawled(client, src.url, schemas=[src.schema])
    (changed,) = report["tables"]
    assert (changed["action"], changed["version"], changed["breaking"]) == ("update", "2.0.0", True)
    assert [(c["change_type"], c["field_path"], c["breaking"]) for c in changed["changes"]] == [
        ("removed", "columns.balance", True)
    ]
    assert await versions_of(client, customers["id"]) == ["2.0.0", "1.1.0", "1.0.0"]
    names = [c["name"] for c in (await schema_of(client, customers["id"]))["columns"]]
    assert names == ["id", "name", "tier", "joined", "email"]

    # A dropped table: its product deprecated, not deleted.
    await src.execute(f'DROP TABLE "{src.schema}".tmp_scratch')
    report = await crawled(client, src.url, schemas=[src.schema])
    assert report["counts"]["deprecate"] == 1
    assert report["tables"] == [
        {"ref": src.ref("tmp_scratch"), "name": src.name("tmp_scratch"), "action": "deprecate"}
    ]
    scratch = await product_of(client, src.ref("tmp_scratch"))
    assert scratch["status"] == "deprecated"

    # Once more: nothing left to do.
    settled = await totals(client)
    report = await crawled(client, src.url, schemas=[src.schema])
    assert report["counts"] == {"create": 0, "update": 0, "unchanged": 4, "deprecate": 0}
    assert await totals(client) == settled

    # The table is back: the product is a draft again.
    await src.execute(f'CREATE TABLE "{src.schema}".tmp_scratch (x integer)')
    report = await crawled(client, src.url, schemas=[src.schema])
    assert (await product_of(client, src.ref("tmp_scratch")))["status"] == "draft"


async def test_a_run_never_shows_the_password_and_a_bad_url_fails_clearly(
    client: AsyncClient, pg_source: Source
) -> None:
    src = pg_source
    with_password = make_url(src.url).set(password=PASSWORD).render_as_string(hide_password=False)
    assert PASSWORD in with_password
    report = await crawled(client, with_password, schemas=[src.schema])
    assert report["counts"]["create"] == 5
    runs = (await client.get(RUNS)).text
    assert PASSWORD not in runs
    assert src.source in runs

    unreachable = make_url(with_password).set(port=free_port())
    run = await crawl(client, unreachable.render_as_string(hide_password=False))
    assert run["status"] == "failed"
    assert run["error"].startswith("cannot introspect "), run
    assert "\n" not in run["error"]
    assert PASSWORD not in (await client.get(f"{RUNS}/{run['id']}")).text
    assert PASSWORD not in (await client.get(RUNS)).text

    run = await crawl(client, src.url, schemas=["no_such_schema_here"])
    assert (run["status"], run["error"]) == ("failed", "no such schema: no_such_schema_here")

    error = error_of(await client.post(RUNS, json={"url": f"nonsense {PASSWORD}"}), 422)
    assert PASSWORD not in str(error)


async def test_runs_need_an_admin_when_auth_is_on(
    database_url: str, tmp_path: Path, open_client: Opener, pg_source: Source
) -> None:
    tokens = write_tokens(tmp_path / "tokens", TOKENS)
    client = await open_client(
        create_app(base_settings(database_url, enable_auth=True, auth_tokens_file=tokens))
    )
    body = {"url": pg_source.url, "schemas": [pg_source.schema]}
    error_of(await client.post(RUNS, json=body), 401)
    for who in ("viewer", "editor", "steward"):
        error_of(await client.post(RUNS, json=body, headers=bearer(who)), 403)
        error_of(await client.get(RUNS, headers=bearer(who)), 403)
    run = ok(await client.post(RUNS, json=body, headers=bearer("admin")), 202)
    assert run["created_by"] == TOKENS["admin"][1]

    async def ended() -> dict[str, Any] | None:
        seen = ok(await client.get(f"{RUNS}/{run['id']}", headers=bearer("admin")))
        return seen if seen["status"] in ("succeeded", "failed") else None

    finished = await until(ended, "the admin's run ending", 60)
    assert finished["status"] == "succeeded", finished
    error_of(await client.get(f"{RUNS}/{run['id']}", headers=bearer("editor")), 403)


# --- `catalog ingest` as a process ----------------------------------------------------------


async def reader(open_client: Opener, catalog_url: str) -> AsyncClient:
    """An app on the catalog the command writes to; no response cache (the command's writes
    come from another process)."""
    return await open_client(create_app(base_settings(catalog_url, cache_enabled=False)))


async def ingest(catalog_url: str, *args: str, level: str = "info") -> tuple[int, str, str]:
    """`catalog ingest ARGS` into `catalog_url`: exit code, stdout, stderr. On a thread: the
    test's own app on the same file must go on (a loop blocked in the middle of its write
    transaction would hold SQLite's lock for the whole command)."""
    env = {"CATALOG_DATABASE_URL": catalog_url, "LOG_LEVEL": level}
    done = await asyncio.to_thread(run_catalog, "ingest", *args, env=env)
    return done.returncode, done.stdout, done.stderr


def said(text: str) -> list[str]:
    """The command's own lines, without the log's (JSON lines, at debug level)."""
    return [line for line in text.strip().splitlines() if not line.startswith('{"')]


async def test_cli_dry_run_prints_the_plan_and_writes_nothing(
    sqlite_url: str, open_client: Opener, pg_source: Source
) -> None:
    src = pg_source
    client = await reader(open_client, sqlite_url)
    empty = await totals(client)

    code, out, err = await ingest(sqlite_url, src.url, "--schema", src.schema, "--dry-run")
    assert code == 0, err
    lines = out.strip().splitlines()
    assert f"create     {src.name('customers')} (5 columns)" in lines
    assert f"create     {src.name('big_orders')} (3 columns)" in lines
    assert lines[-1] == (
        "plan: 5 created, 0 updated, 0 unchanged, 0 deprecated; 17 elements created, 0 updated; "
        "2 lineage edges (dry run: nothing written)"
    )
    assert await totals(client) == empty

    code, out, err = await ingest(sqlite_url, src.url, "--schema", src.schema)
    assert code == 0, err
    assert out.strip().splitlines()[-1].startswith("done: 5 created, 0 updated, 0 unchanged")
    written = await totals(client)
    assert (written["products"], written["versions"]) == (5, 5)

    await src.execute(
        f'ALTER TABLE "{src.schema}".customers ADD COLUMN email text',
        f'ALTER TABLE "{src.schema}".orders DROP COLUMN note',
        f'DROP TABLE "{src.schema}".tmp_scratch',
    )
    code, out, err = await ingest(sqlite_url, src.url, "--schema", src.schema, "--dry-run")
    assert code == 0, err
    lines = out.strip().splitlines()
    assert f"update     {src.name('customers')} -> 1.1.0: added columns.email" in lines, lines
    assert f"update     {src.name('orders')} -> 2.0.0: removed columns.note (breaking)" in lines, (
        lines
    )
    assert f"deprecate  {src.name('tmp_scratch')}" in lines
    assert lines[-1].startswith("plan: 0 created, 2 updated, 2 unchanged, 1 deprecated")
    assert await totals(client) == written
    assert (await product_of(client, src.ref("tmp_scratch")))["status"] == "draft"

    code, out, err = await ingest(sqlite_url, src.url, "--schema", src.schema, "--json")
    assert code == 0, err
    assert '"deprecate": 1' in out
    after = await totals(client)
    assert (after["versions"], after["deprecated"]) == (7, 1)


async def test_cli_schema_include_and_exclude_limit_the_crawl_and_its_deprecations(
    sqlite_url: str, open_client: Opener, pg_source: Source
) -> None:
    src = pg_source
    other = await src.other_schema()
    client = await reader(open_client, sqlite_url)

    code, _, err = await ingest(sqlite_url, src.url, "--schema", src.schema, "--exclude", "tmp_*")
    assert code == 0, err
    assert await absent(client, src.ref("tmp_scratch"))
    assert await absent(client, src.ref("invoices", other))
    await product_of(client, src.ref("customers"))

    code, _, err = await ingest(sqlite_url, src.url, "--schema", other, "--include", "inv*")
    assert code == 0, err
    invoices = await product_of(client, src.ref("invoices", other))
    # A foreign key across schemas is lineage too.
    lineage = ok(await client.get(f"/api/data-products/{invoices['id']}/lineage"))
    customers = await product_of(client, src.ref("customers"))
    assert upstream_of(lineage, invoices["id"]) == {(customers["id"], "references")}
    # Crawling one schema deprecated nothing of the other.
    assert (await totals(client))["deprecated"] == 0

    # Tables dropped: only those the crawl speaks for are deprecated.
    await src.execute(
        f'DROP VIEW "{src.schema}".big_orders',
        f'DROP TABLE "{src.schema}".order_lines',
    )
    code, out, err = await ingest(
        sqlite_url, src.url, "--schema", src.schema, "--include", "order*"
    )
    assert code == 0, err
    assert out.strip().splitlines() == [
        f"deprecate  {src.name('order_lines')}",
        "done: 0 created, 0 updated, 1 unchanged, 1 deprecated; 0 elements created, 0 updated; "
        "0 lineage edges",
    ]
    assert (await product_of(client, src.ref("order_lines")))["status"] == "deprecated"
    assert (await product_of(client, src.ref("big_orders")))["status"] == "draft"  # not included
    code, out, err = await ingest(
        sqlite_url, src.url, "--schema", src.schema, "--exclude", "big_*", "--exclude", "order_*"
    )
    assert code == 0, err
    assert not [line for line in said(out) if line.startswith("deprecate")], out
    assert (await product_of(client, src.ref("big_orders")))["status"] == "draft"  # excluded
    code, out, err = await ingest(sqlite_url, src.url, "--schema", src.schema)
    assert code == 0, err
    assert f"deprecate  {src.name('big_orders')}" in out.splitlines()
    assert (await product_of(client, src.ref("invoices", other)))["status"] == "draft"


async def test_cli_never_prints_the_password_and_fails_in_one_line(
    sqlite_url: str, pg_source: Source
) -> None:
    src = pg_source
    with_password = make_url(src.url).set(password=PASSWORD).render_as_string(hide_password=False)
    # At debug level: not even the most talkative log shows it.
    code, out, err = await ingest(sqlite_url, with_password, "--schema", src.schema, level="debug")
    assert code == 0, err
    assert said(out)[-1].startswith("done: 5 created")
    assert PASSWORD not in out + err

    unreachable = (
        make_url(with_password).set(port=free_port()).render_as_string(hide_password=False)
    )
    code, out, err = await ingest(sqlite_url, unreachable, "--schema", src.schema, level="debug")
    assert code == 1
    assert said(out) == []
    assert said(err)[0].startswith("cannot crawl: cannot introspect postgresql"), err
    assert len(said(err)) == 1, err
    assert PASSWORD not in out + err
    code, out, err = await ingest(sqlite_url, unreachable, "--schema", src.schema)
    assert (code, out) == (1, "")
    assert err.count("\n") == 1
    assert err.startswith("cannot crawl: cannot introspect postgresql+asyncpg://root:***@"), err

    code, out, err = await ingest(sqlite_url, f"nonsense:{PASSWORD}")
    assert (code, out, err) == (1, "", "cannot crawl: not a database URL\n")
    code, out, err = await ingest(sqlite_url, "sqlite:////nowhere/at/all.db")
    assert code == 1
    assert code == 1
    assert err.startswith("cannot crawl: cannot introspect sqlite"), err
    assert err.endswith("/nowhere/at/all.db: no such SQLite file\n"), err


# --- a SQLite source ------------------------------------------------------------------------


def sqlite_source(path: Path) -> None:
    connection = sqlite3.connect(path)
    connection.executescript(
        """
        CREATE TABLE shelves (
            id INTEGER PRIMARY KEY,
            label VARCHAR(30) NOT NULL,
            kind TEXT CHECK (kind IN ('wall', 'floor'))
        );
        CREATE TABLE gizmos (
            id INTEGER PRIMARY KEY,
            shelf_id INTEGER NOT NULL REFERENCES shelves (id),
            price NUMERIC(8, 2),
            colour TEXT CHECK (colour IN ('red', 'green', 'blue'))
        );
        CREATE VIEW cheap_gizmos AS SELECT id, price FROM gizmos WHERE price < 5;
        """
    )
    connection.close()


async def test_cli_crawls_a_sqlite_file_into_products_found_by_search(
    tmp_path: Path, open_client: Opener
) -> None:
    source_file = tmp_path / "some.db"
    sqlite_source(source_file)
    catalog_url = f"sqlite:///{tmp_path / 'catalog.db'}"
    migrated = run_catalog("migrate", env={"CATALOG_DATABASE_URL": catalog_url})
    assert migrated.returncode == 0, migrated.stderr
    url = f"sqlite:///{source_file}"
    code, out, err = await ingest(catalog_url, url)
    assert code == 0, err
    assert "done: 3 created" in out

    client = await reader(open_client, catalog_url)
    source = source_of_url(url)
    gizmos = await product_of(client, f"{source}/main/gizmos")
    shelves = await product_of(client, f"{source}/main/shelves")
    view = await product_of(client, f"{source}/main/cheap_gizmos")
    assert (gizmos["name"], gizmos["category"], gizmos["status"]) == (
        "main.gizmos",
        "table",
        "draft",
    )
    assert view["category"] == "view"
    columns = (await schema_of(client, gizmos["id"]))["columns"]
    assert [(c["name"], c["primary_key"], c["nullable"]) for c in columns] == [
        ("id", True, True) if columns[0]["nullable"] else ("id", True, False),
        ("shelf_id", False, False),
        ("price", False, True),
        ("colour", False, True),
    ]
    assert columns[2]["physical_type"] == "numeric(8, 2)"
    element = ok(await client.get(f"/api/data-elements/{columns[3]['data_element_id']}"))
    assert element["identifier"] == f"{source}/main/gizmos/colour"
    domain = await domain_of_element(client, columns[3]["data_element_id"])
    assert [v["value"] for v in domain["permissible_values"]] == ["red", "green", "blue"]
    lineage = ok(await client.get(f"/api/data-products/{gizmos['id']}/lineage"))
    assert upstream_of(lineage, gizmos["id"]) == {(shelves["id"], "references")}

    await search.caught_up(client)
    found = ok(await client.get("/api/discover/search", params={"q": "gizmos"}))
    assert gizmos["id"] in {hit["id"] for hit in found["results"]}, found

    before = await totals(client)
    code, out, err = await ingest(catalog_url, url)
    assert code == 0, err
    assert out.strip() == (
        "done: 0 created, 0 updated, 3 unchanged, 0 deprecated; 0 elements created, 0 updated; "
        "0 lineage edges"
    )
    assert await totals(client) == before
