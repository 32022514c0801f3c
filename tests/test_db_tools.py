"""Index care: `GET /api/admin/db/indexes`, `catalog db indexes|analyze|reindex|advise`.

Indexes are dropped only in databases of this module's own (a scratch PostgreSQL database,
a copy of the SQLite template), never in the ones other tests share.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import subprocess
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import make_url
from typer.testing import CliRunner

from catalog.app import create_app
from catalog.cli import cli
from catalog.db.engine import create_engine
from catalog.db.indexes import GUIDE_INDEXES, expected_indexes
from catalog.db.migrate import upgrade
from catalog.ops.advisor import advise, filtered_columns
from catalog.settings import Settings
from tests.conftest import NAMESPACE, base_settings
from tests.support.api import error_of, ok
from tests.support.db import execute, query
from tests.support.process import run_catalog
from tests.support.servers import MissingServerError, Servers, start_postgres
from tests.support.wait import until

Opener = Callable[[FastAPI], Awaitable[AsyncClient]]
INDEXES = "/api/admin/db/indexes"
GUIDE = {index.name for index in GUIDE_INDEXES}
DROPPED_GUIDE = "idx_tags_category"  # a guide index, dropped in the scratch databases
DROPPED_FOR_ADVICE = "idx_data_products_team"  # the list-by-team query then scans
PRODUCTS = 20_000


def run_process(*args: str, database_url: str) -> subprocess.CompletedProcess[str]:
    """`python -m catalog ...` as an operator runs it."""
    return run_catalog(*args, env={"CATALOG_DATABASE_URL": database_url})


def run_cli(*args: str, database_url: str) -> subprocess.CompletedProcess[str]:
    """The same command in this process (a process start costs seconds on a busy machine)."""
    result = CliRunner().invoke(
        cli, list(args), env={"CATALOG_DATABASE_URL": database_url}, catch_exceptions=False
    )
    return subprocess.CompletedProcess(list(args), result.exit_code, result.stdout, result.stderr)


async def _admin_connection(servers: Servers) -> Any:
    admin = make_url(servers.database_url)
    return await asyncpg.connect(
        host=admin.host, port=admin.port, user=admin.username, database=admin.database
    )


async def _seed_products(url: str, count: int) -> None:
    """Enough rows that a sequential scan on `team` costs more than an index would."""
    await execute(
        url,
        "INSERT INTO data_products (id, name, description, team, category, owner, status,"
        " visibility, metadata, revision)"
        " SELECT 'p' || g, 'product ' || g, '', 'team' || (g % 50), 'cat' || (g % 20), 'o',"
        " 'published', 'public', '{}', 1 FROM generate_series(1, :count) AS g",
        count=count,
    )


@pytest.fixture(scope="module")
async def scratch_pg(servers: Servers, worker_number: int) -> AsyncIterator[str]:
    """A migrated database of this module's own: many products, two indexes dropped."""
    name = f"catalog_dbtools_{NAMESPACE}{worker_number}"
    connection = await _admin_connection(servers)
    await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await connection.execute(f'CREATE DATABASE "{name}"')
    url = make_url(servers.database_url).set(database=name).render_as_string(hide_password=False)
    await asyncio.to_thread(upgrade, url)
    await _seed_products(url, PRODUCTS)
    await execute(url, f"DROP INDEX {DROPPED_GUIDE}")
    await execute(url, f"DROP INDEX {DROPPED_FOR_ADVICE}")
    await execute(url, "ANALYZE data_products")
    yield url
    await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await connection.close()


@pytest.fixture
def sqlite_missing(sqlite_url: str) -> str:
    """A fresh SQLite copy without one guide index."""
    path = make_url(sqlite_url).database or ""
    import sqlite3

    with sqlite3.connect(path) as connection:
        connection.execute(f"DROP INDEX {DROPPED_GUIDE}")
    return sqlite_url


# --- the route ----------------------------------------------------------------------------


async def test_route_lists_every_index_with_the_guide_ones(client: AsyncClient) -> None:
    report = ok(await client.get(INDEXES))
    by_name = {index["name"]: index for index in report["indexes"]}
    assert report["missing"] == []
    assert set(by_name) >= GUIDE
    assert all(by_name[name]["expected"] == "guide" for name in GUIDE)
    assert by_name["idx_tags_name"]["unique"] is True
    assert by_name["idx_tags_name"]["columns"] == ["name"]
    assert "tags" in by_name["idx_tags_category"]["definition"]
    assert by_name["idx_tags_category"]["table"] == "tags"
    # every index the models and migrations create is listed and known
    expected = {index.name for index in expected_indexes(report["database"])}
    assert expected <= set(by_name)
    if report["database"] == "postgresql":
        assert all(
            isinstance(i["size_bytes"], int) and i["size_bytes"] > 0 for i in by_name.values()
        )
        assert all(isinstance(i["scans"], int) for i in by_name.values())
        assert report["total_size_bytes"] == sum(i["size_bytes"] for i in by_name.values())
        assert by_name["pk_tags"]["primary"] is True
        assert by_name["idx_change_log_created_at"]["expected"] == "schema"
        # search is the Tantivy index now: the SQL text-search indexes are gone
        assert not {name for name in by_name if "search_vector" in name or "trgm" in name}
    else:
        assert all(i["size_bytes"] is None and i["scans"] is None for i in by_name.values())
        assert all(i["unused"] is None for i in by_name.values())
        assert report["total_size_bytes"] is None
        assert report["unused"] == []


async def test_route_is_for_admins_only(
    make_settings: Callable[..., Settings], open_client: Opener, tmp_path: Path
) -> None:
    tokens = tmp_path / "tokens"
    tokens.write_text(
        "".join(
            f"{hashlib.sha256(secret.encode()).hexdigest()} {who} {role}\n"
            for secret, who, role in (
                ("viewer-secret-1", "vera", "viewer"),
                ("steward-secret-1", "stan", "steward"),
                ("admin-secret-1", "ada", "admin"),
            )
        )
    )
    client = await open_client(create_app(make_settings(enable_auth=True, auth_tokens_file=tokens)))
    error_of(await client.get(INDEXES), 401)
    for secret in ("viewer-secret-1", "steward-secret-1"):
        error_of(await client.get(INDEXES, headers={"Authorization": f"Bearer {secret}"}), 403)
    report = ok(await client.get(INDEXES, headers={"Authorization": "Bearer admin-secret-1"}))
    assert {index["name"] for index in report["indexes"]} >= GUIDE


async def test_a_dropped_guide_index_is_missing_on_postgresql(
    scratch_pg: str, open_client: Opener
) -> None:
    client = await open_client(create_app(base_settings(scratch_pg)))
    report = ok(await client.get(INDEXES))
    missing = {m["name"]: m for m in report["missing"]}
    assert missing[DROPPED_GUIDE] == {
        "name": DROPPED_GUIDE,
        "table": "tags",
        "columns": ["category"],
        "origin": "guide",
        "reason": "absent",
    }
    assert missing[DROPPED_FOR_ADVICE]["origin"] == "schema"
    assert DROPPED_GUIDE not in {index["name"] for index in report["indexes"]}


async def test_a_dropped_guide_index_is_missing_on_sqlite(
    sqlite_missing: str, open_client: Opener
) -> None:
    client = await open_client(create_app(base_settings(sqlite_missing)))
    report = ok(await client.get(INDEXES))
    assert [m["name"] for m in report["missing"]] == [DROPPED_GUIDE]


async def test_unused_means_never_scanned_and_enforcing_nothing(
    scratch_pg: str, open_client: Opener
) -> None:
    # Scan one index for sure (the planner may not pick it on its own), from a connection
    # that then ends, so its statistics are flushed.
    target = make_url(scratch_pg)
    connection = await asyncpg.connect(
        host=target.host, port=target.port, user=target.username, database=target.database
    )
    try:
        async with connection.transaction():
            await connection.execute("SET LOCAL enable_seqscan = off")
            await connection.fetch("SELECT id FROM tags WHERE name = 'x'")
    finally:
        await connection.close()
    client = await open_client(create_app(base_settings(scratch_pg)))

    async def scanned() -> dict[str, Any] | None:
        answer: dict[str, Any] = ok(await client.get(INDEXES))
        tags = next(i for i in answer["indexes"] if i["name"] == "idx_tags_name")
        return answer if tags["scans"] else None

    # statistics arrive asynchronously once the backend exits
    found = await until(scanned, "the index scan reaching PostgreSQL's statistics")
    report: dict[str, Any] = found or {}  # until() answers only a truthy result
    by_name = {index["name"]: index for index in report["indexes"]}
    assert by_name["idx_tags_name"]["scans"] >= 1
    assert by_name["idx_tags_name"]["unused"] is False
    never = by_name["idx_langextract_audit_trail_user_id"]
    assert never["scans"] == 0
    assert never["unused"] is True
    assert never["name"] in report["unused"]
    # never scanned, but it enforces uniqueness / the primary key: not a candidate to drop
    assert by_name["idx_regulatory_schemas_type_version"]["scans"] == 0
    assert by_name["idx_regulatory_schemas_type_version"]["unused"] is False
    assert by_name["pk_regulatory_schemas"]["unused"] is False


# --- the command line -----------------------------------------------------------------------


async def test_cli_indexes_table_and_json(scratch_pg: str) -> None:
    table = await asyncio.to_thread(run_cli, "db", "indexes", database_url=scratch_pg)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["TABLE", "INDEX", "SIZE", "SCANS", "FLAGS"]
    tag_name = next(line for line in lines if " idx_tags_name " in line)
    assert tag_name.split()[0] == "tags"
    assert "guide" in tag_name
    assert "unique" in tag_name
    assert any("UNUSED" in line for line in lines)
    assert f"MISSING {DROPPED_GUIDE} on tags (category), guide index: absent" in lines

    raw = await asyncio.to_thread(run_process, "db", "indexes", "--json", database_url=scratch_pg)
    assert raw.returncode == 0, raw.stderr
    report = json.loads(raw.stdout)
    assert set(report) == {
        "database",
        "indexes",
        "missing",
        "unused",
        "stats_reset",
        "total_size_bytes",
    }
    assert report["database"] == "postgresql"
    assert {m["name"] for m in report["missing"]} == {DROPPED_GUIDE, DROPPED_FOR_ADVICE}
    rows = lines[1 : lines.index("")]  # the table ends with a blank line, then the summary
    assert [row.split()[1] for row in rows] == [index["name"] for index in report["indexes"]]


async def test_cli_indexes_on_sqlite_reports_the_missing_one(sqlite_missing: str) -> None:
    result = await asyncio.to_thread(run_cli, "db", "indexes", database_url=sqlite_missing)
    assert result.returncode == 0, result.stderr
    assert f"MISSING {DROPPED_GUIDE} on tags (category), guide index: absent" in result.stdout
    assert "SQLite keeps neither index sizes nor scan counts" in result.stdout


async def _filenode(url: str, index: str) -> int:
    rows = await query(url, "SELECT pg_relation_filenode(CAST(:i AS regclass))", i=index)
    return int(rows[0][0])


async def test_analyze_and_reindex_on_postgresql(scratch_pg: str) -> None:
    analyzed = await asyncio.to_thread(run_cli, "db", "analyze", database_url=scratch_pg)
    assert analyzed.returncode == 0, analyzed.stderr
    assert analyzed.stdout.startswith("analyzed in ")
    rows = await query(
        scratch_pg, "SELECT last_analyze FROM pg_stat_user_tables WHERE relname = 'tags'"
    )
    assert rows[0][0] is not None

    before = await _filenode(scratch_pg, "idx_tags_name")
    plain = await asyncio.to_thread(run_cli, "db", "reindex", database_url=scratch_pg)
    assert plain.returncode == 0, plain.stdout + plain.stderr
    assert plain.stdout.startswith("reindexed database in ")
    rebuilt = await _filenode(scratch_pg, "idx_tags_name")
    assert rebuilt != before, "REINDEX DATABASE gives every index a new file"

    concurrent = await asyncio.to_thread(
        run_cli, "db", "reindex", "--concurrently", database_url=scratch_pg
    )
    assert concurrent.returncode == 0, concurrent.stdout + concurrent.stderr
    assert "reindexed idx_tags_name in " in concurrent.stdout
    assert "reindexed pk_data_products in " in concurrent.stdout
    assert await _filenode(scratch_pg, "idx_tags_name") != rebuilt
    invalid = await query(scratch_pg, "SELECT count(*) FROM pg_index WHERE NOT indisvalid")
    assert invalid[0][0] == 0, "a concurrent rebuild must leave no invalid index behind"

    one = await asyncio.to_thread(
        run_cli,
        "db",
        "reindex",
        "--index",
        "idx_tags_name",
        "--index",
        "nope",
        database_url=scratch_pg,
    )
    assert one.returncode == 1
    assert "reindexed idx_tags_name in " in one.stdout
    assert 'FAILED nope: relation "nope" does not exist' in one.stdout


async def test_analyze_and_reindex_on_sqlite(sqlite_url: str) -> None:
    analyzed = await asyncio.to_thread(run_cli, "db", "analyze", database_url=sqlite_url)
    assert analyzed.returncode == 0, analyzed.stderr
    stats = await query(
        sqlite_url, "SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'"
    )
    assert stats[0][0] == 1, "ANALYZE writes sqlite_stat1"
    reindexed = await asyncio.to_thread(run_cli, "db", "reindex", database_url=sqlite_url)
    assert reindexed.returncode == 0, reindexed.stderr
    assert reindexed.stdout.startswith("reindexed database in ")
    one = await asyncio.to_thread(
        run_cli, "db", "reindex", "--index", "idx_tags_name", database_url=sqlite_url
    )
    assert one.returncode == 0, one.stdout + one.stderr


# --- advice ---------------------------------------------------------------------------------


async def _hypopg_available(url: str) -> bool:
    rows = await query(url, "SELECT count(*) FROM pg_available_extensions WHERE name = 'hypopg'")
    return bool(rows[0][0])


async def test_advise_explains_hot_queries_and_validates_the_missing_index(
    scratch_pg: str,
) -> None:
    result = await asyncio.to_thread(run_cli, "db", "advise", "--json", database_url=scratch_pg)
    assert result.returncode == 0, result.stderr
    advice = json.loads(result.stdout)
    explained = [item for item in advice["explained"] if item["cost"] is not None]
    assert explained, advice["explained"]
    labels = {item["label"] for item in explained}
    assert any(label.startswith("lineage") for label in labels)
    by_team = next(item for item in explained if item["label"].startswith("products by team"))
    assert by_team["seq_scans"][0]["table"] == "data_products"
    suggestion = next(s for s in advice["suggestions"] if s["table"] == "data_products")
    assert suggestion["columns"] == ["team"]
    assert suggestion["statement"] == 'CREATE INDEX CONCURRENTLY ON "data_products" ("team")'
    # a guide index that is present is not suggested again
    assert not any(s["columns"] == ["category"] for s in advice["suggestions"])
    assert await _hypopg_available(scratch_pg), (
        "hypopg is not installed (Debian: postgresql-15-hypopg; .ci/run installs it)"
    )
    assert advice["hypopg"] is True
    assert suggestion["status"] == "validated"
    assert suggestion["gain_percent"] >= 10
    assert suggestion["cost_after"] < suggestion["cost_before"]
    # everything ran in a rolled-back transaction: the database is as it was
    created = await query(scratch_pg, "SELECT count(*) FROM pg_extension WHERE extname = 'hypopg'")
    assert created[0][0] == 0
    assert DROPPED_FOR_ADVICE not in {
        row[0] for row in await query(scratch_pg, "SELECT indexname FROM pg_indexes")
    }


async def test_advise_without_hypopg_leaves_suggestions_unvalidated(scratch_pg: str) -> None:
    """A role that may not create the extension: the advice still comes, unvalidated."""
    role = f"catalog_advice_{uuid.uuid4().hex[:12]}"
    await execute(scratch_pg, f"CREATE ROLE {role} LOGIN")
    await execute(scratch_pg, f"GRANT USAGE ON SCHEMA public TO {role}")
    await execute(scratch_pg, f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
    try:
        as_role = make_url(scratch_pg).set(username=role).render_as_string(hide_password=False)
        result = await asyncio.to_thread(run_cli, "db", "advise", "--json", database_url=as_role)
        assert result.returncode == 0, result.stderr
        advice = json.loads(result.stdout)
        assert advice["hypopg"] is False
        assert "hypopg unavailable" in advice["hypopg_detail"]
        suggestion = next(s for s in advice["suggestions"] if s["table"] == "data_products")
        assert suggestion["columns"] == ["team"]
        assert suggestion["status"] == "unvalidated"
    finally:
        await execute(scratch_pg, f"DROP OWNED BY {role}")
        await execute(scratch_pg, f"DROP ROLE {role}")


async def test_advise_text_output(scratch_pg: str) -> None:
    result = await asyncio.to_thread(run_cli, "db", "advise", database_url=scratch_pg)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("source: ")
    assert "explained " in result.stdout
    assert 'CREATE INDEX CONCURRENTLY ON "data_products" ("team");' in result.stdout


async def test_advise_refuses_sqlite(sqlite_url: str) -> None:
    result = await asyncio.to_thread(run_cli, "db", "advise", database_url=sqlite_url)
    assert result.returncode == 1
    assert "PostgreSQL" in result.stderr


@pytest.mark.parametrize(
    ("condition", "columns"),
    [
        ("((team)::text = ($1)::text)", ["team"]),
        ("(((status)::text = $1) AND ((product_id)::text = $2))", ["status", "product_id"]),
        ("((created_at > $1) AND ((team)::text = 'x'::text))", ["team", "created_at"]),
        ("((status)::text = ANY ($1))", ["status"]),
        ("(lower((name)::text) = lower($1))", []),  # an expression: a plain index won't do
        ("(((team)::text = $1) OR ((status)::text = $2))", []),  # OR: no single b-tree
        ("((visibility)::text <> 'restricted'::text)", []),
        ("((unknown)::text = $1)", []),  # not a column of the table
    ],
)
def test_filter_columns(condition: str, columns: list[str]) -> None:
    known = {"team", "status", "product_id", "created_at", "name", "visibility"}
    assert filtered_columns(condition, known) == columns


@pytest.fixture(scope="module")
def statements_server() -> Iterator[str]:
    """A throwaway PostgreSQL with pg_stat_statements preloaded (the shared one has not)."""
    servers = Servers(database_url="", redis_url="")
    try:
        url = start_postgres(servers, settings=("shared_preload_libraries=pg_stat_statements",))
    except (MissingServerError, subprocess.CalledProcessError, OSError) as exc:
        servers.stop()
        pytest.fail(
            f"cannot start a PostgreSQL with pg_stat_statements (needs initdb/pg_ctl and "
            f"postgresql-contrib): {exc}",
            pytrace=False,
        )
    yield url
    servers.stop()


async def test_advise_reads_pg_stat_statements_when_loaded(statements_server: str) -> None:
    url = statements_server
    await asyncio.to_thread(upgrade, url)
    await execute(url, "CREATE EXTENSION pg_stat_statements")
    await _seed_products(url, PRODUCTS)
    await execute(url, f"DROP INDEX {DROPPED_FOR_ADVICE}")
    await execute(url, "ANALYZE data_products")
    await execute(url, "SELECT pg_stat_statements_reset()")
    target = make_url(url)
    connection = await asyncpg.connect(
        host=target.host, port=target.port, user=target.username, database=target.database
    )
    try:
        for team in range(20):  # the slow query the advisor must find, with $n placeholders
            await connection.fetch(
                "SELECT id, name FROM data_products WHERE team = $1",
                f"team{team}",
            )
    finally:
        await connection.close()
    settings = Settings(database_url=url)
    engine = create_engine(settings)
    try:
        advice = await advise(engine, settings, limit=5)
    finally:
        await engine.dispose()
    assert advice.source == "pg_stat_statements", advice.source_detail
    slow = next((item for item in advice.explained if "WHERE team = $1" in item.sql), None)
    assert slow is not None, [item.sql for item in advice.explained]
    assert slow.calls == 20
    assert slow.cost is not None
    assert slow.error is None
    assert slow.label.startswith("#")
    suggestion = next(s for s in advice.suggestions if s.table == "data_products")
    assert suggestion.columns == ["team"]
    if advice.hypopg:
        assert suggestion.status == "validated"
