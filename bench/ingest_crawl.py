"""Crawling a large PostgreSQL database with `catalog ingest`, as an operator runs it.

    .venv/bin/python -m bench.ingest_crawl [--tables 2000] [--columns 50] [--no-dry-run]

A generated source database (`catalog_bench_crawl_source`, no migrations: plain tables) of
`--tables` tables x `--columns` columns (default 2,000 x 50 = 100,000 columns): mixed types
(integer, bigint, varchar(n), text, numeric(p, s), double precision, boolean, date,
timestamptz, jsonb, uuid), a primary key, a `CHECK (status IN (...))` column, a comment on
every third table and on a few columns of each, and in half the tables a foreign key to the
previous table. The catalog is another scratch PostgreSQL database, migrated. Each step is
`python -m catalog ingest <source url>` as a subprocess (LOG_LEVEL=info), timed end to end
(interpreter start, introspection, writing, commits):

- **dry run**: the first crawl's plan on the fresh catalog (everything done, then rolled back);
- **first crawl**: every table a product with a 1.0.0 schema version, every column an element;
- **no-change re-run**: the same database again (writes nothing);
- **20 tables altered**: `ALTER TABLE ... ADD COLUMN` on 20 tables, then a re-run (20 new
  minor versions).

Also timed in this process: `introspect()` alone (the reading half of every step).

Targets (issue 17): first crawl of 2,000 x 50 <= 60 s; a no-change re-run <= 15 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from typing import Any

import asyncpg
from sqlalchemy import make_url

from bench.support import DEFAULT_ADMIN_URL, catalog_env, drop_database, save, scratch_postgres
from catalog.ingest.introspect import introspect

SOURCE_DB = "catalog_bench_crawl_source"
CATALOG_DB = "catalog_bench_crawl"
BATCH = 50  # CREATE TABLEs per transaction (each holds locks until commit)
ALTERED = 20
TYPES = (
    "bigint",
    "varchar(40)",
    "text",
    "numeric(12, 2)",
    "double precision",
    "boolean",
    "date",
    "timestamptz",
    "integer",
    "varchar(200)",
    "jsonb",
    "uuid",
    "smallint",
    "numeric(8, 3)",
)
STATUSES = "'new', 'active', 'suspended', 'closed'"


def table_ddl(i: int, columns: int) -> list[str]:
    """One table's statements: `t0001` has `id`, `status` (CHECK IN), maybe `parent_id` (a
    foreign key to the table before), then mixed columns up to `columns`."""
    name = f"t{i:04d}"
    parts = ["id integer PRIMARY KEY", f"status text NOT NULL CHECK (status IN ({STATUSES}))"]
    linked = i > 0 and i % 2 == 1
    if linked:
        parts.append(f"parent_id integer REFERENCES t{i - 1:04d} (id)")
    for c in range(columns - len(parts)):
        kind = TYPES[(i + c) % len(TYPES)]
        parts.append(f"c{c:02d} {kind}" + (" NOT NULL" if c % 7 == 0 else ""))
    statements = [f"CREATE TABLE {name} ({', '.join(parts)})"]
    if i % 3 == 0:
        statements.append(f"COMMENT ON TABLE {name} IS 'Generated table {i}, for the crawl bench'")
    statements.append(f"COMMENT ON COLUMN {name}.status IS 'Lifecycle state of the row'")
    statements.append(f"COMMENT ON COLUMN {name}.c01 IS 'Measure {i}.1'")
    return statements


async def connect(url: str) -> asyncpg.Connection:
    parsed = make_url(url)
    return await asyncpg.connect(
        host=parsed.host,
        port=parsed.port,
        user=parsed.username,
        password=parsed.password,
        database=parsed.database,
    )


async def make_source(admin_url: str, tables: int, columns: int) -> str:
    admin = await connect(admin_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{SOURCE_DB}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{SOURCE_DB}"')
    finally:
        await admin.close()
    url = make_url(admin_url).set(database=SOURCE_DB).render_as_string(hide_password=False)
    connection = await connect(url)
    try:
        for start in range(0, tables, BATCH):
            async with connection.transaction():
                for i in range(start, min(start + BATCH, tables)):
                    for statement in table_ddl(i, columns):
                        await connection.execute(statement)
        await connection.execute("ANALYZE")
    finally:
        await connection.close()
    return url


async def alter(url: str, tables: int) -> None:
    connection = await connect(url)
    try:
        step = max(1, tables // ALTERED)
        for i in range(0, step * ALTERED, step):
            await connection.execute(f"ALTER TABLE t{i:04d} ADD COLUMN added_later varchar(30)")
    finally:
        await connection.close()


def ingest(catalog_url: str, source_url: str, *args: str) -> dict[str, Any]:
    """`catalog ingest` as a process: wall seconds and its summary line."""
    env = catalog_env() | {"CATALOG_DATABASE_URL": catalog_url, "LOG_LEVEL": "info"}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "catalog", "ingest", source_url, *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        head, tail = done.stderr[:3000], done.stderr[-1500:]
        raise SystemExit(f"catalog ingest {' '.join(args)} failed:\n{head}\n...\n{tail}")
    summary = [line for line in done.stdout.splitlines() if line.startswith(("done:", "plan:"))]
    warnings = [line for line in done.stderr.splitlines() if line.startswith("warning:")]
    return {
        "seconds": round(seconds, 2),
        "summary": summary[-1] if summary else "",
        "warnings": len(warnings),
    }


async def counts(catalog_url: str) -> dict[str, int]:
    connection = await connect(catalog_url)
    try:
        found = {}
        for table in ("data_products", "data_elements", "data_product_versions", "audit_events"):
            found[table] = int(await connection.fetchval(f"SELECT count(*) FROM {table}"))  # noqa: S608
        return found
    finally:
        await connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--tables", type=int, default=2000)
    parser.add_argument("--columns", type=int, default=50)
    parser.add_argument("--no-dry-run", action="store_true")
    args = parser.parse_args()
    admin_url = os.environ.get("BENCH_ADMIN_URL", DEFAULT_ADMIN_URL)

    started = time.perf_counter()
    source_url = asyncio.run(make_source(admin_url, args.tables, args.columns))
    generated_s = time.perf_counter() - started
    catalog_url = scratch_postgres(CATALOG_DB, admin_url)

    started = time.perf_counter()
    found = asyncio.run(introspect(source_url))
    introspect_s = time.perf_counter() - started
    assert len(found.tables) == args.tables, len(found.tables)

    steps: dict[str, dict[str, Any]] = {}
    try:
        if not args.no_dry_run:
            steps["dry run (fresh catalog)"] = ingest(catalog_url, source_url, "--dry-run")
            steps["dry run (fresh catalog)"]["counts_after"] = asyncio.run(counts(catalog_url))
        steps["first crawl"] = ingest(catalog_url, source_url)
        steps["first crawl"]["counts_after"] = asyncio.run(counts(catalog_url))
        steps["no-change re-run"] = ingest(catalog_url, source_url)
        steps["no-change re-run"]["counts_after"] = asyncio.run(counts(catalog_url))
        asyncio.run(alter(source_url, args.tables))
        steps[f"{ALTERED} tables altered"] = ingest(catalog_url, source_url)
        steps[f"{ALTERED} tables altered"]["counts_after"] = asyncio.run(counts(catalog_url))
    finally:
        asyncio.run(drop_database(admin_url, SOURCE_DB))
        asyncio.run(drop_database(admin_url, CATALOG_DB))

    targets = {"first crawl": 60.0, "no-change re-run": 15.0}
    print(f"\n{args.tables} tables x {args.columns} columns ({args.tables * args.columns} columns)")
    print(f"source generated in {generated_s:.1f} s; introspect() alone {introspect_s:.2f} s\n")
    print("| step | seconds | target | summary |")
    print("|---|---:|---:|---|")
    for step, result in steps.items():
        target = targets.get(step)
        print(
            f"| {step} | {result['seconds']:.1f} | "
            f"{f'<= {target:.0f} s' if target else ''} | {result['summary']} |"
        )
    save(
        "ingest_crawl",
        {
            "tables": args.tables,
            "columns_per_table": args.columns,
            "cpus": os.cpu_count(),
            "generate_source_s": round(generated_s, 2),
            "introspect_s": round(introspect_s, 2),
            "steps": steps,
            "targets_s": targets,
        },
    )
    print("\n" + json.dumps(steps, indent=2))


if __name__ == "__main__":
    main()
