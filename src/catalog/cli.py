"""`catalog serve | migrate | seed-demo | doctor | db ...`: the service's command line."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import typer
from granian import Granian
from granian.constants import Interfaces
from granian.log import LogLevels
from pydantic import ValidationError

from catalog.core.logging import configure_logging, get_logger
from catalog.graph.commands import graph_commands
from catalog.ops.db_commands import db_commands
from catalog.search.commands import search_commands
from catalog.settings import Settings

cli = typer.Typer(no_args_is_help=True, add_completion=False, help="Catalog data service.")
log = get_logger("catalog.cli")

EXIT_UNSAFE_SETTINGS = 2


def _settings() -> Settings:
    try:
        settings = Settings()
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        print(f"invalid configuration: {problems}", file=sys.stderr)
        raise typer.Exit(EXIT_UNSAFE_SETTINGS) from None
    configure_logging(settings.log_level)
    return settings


def _refuse_unsafe(settings: Settings) -> None:
    reasons = settings.unsafe_reasons()
    if reasons:
        # One line, on stderr, so an orchestrator's event log shows the reason verbatim.
        print(f"refusing to start: {reasons[0]}", file=sys.stderr)
        raise typer.Exit(EXIT_UNSAFE_SETTINGS)


@cli.command()
def serve(
    host: str = typer.Option("0.0.0.0", help="Interface to bind."),  # noqa: S104
    port: int | None = typer.Option(None, help="Listen port (default: PORT, 8084)."),
    workers: int | None = typer.Option(
        None, min=1, help="Worker processes (default: CATALOG_WORKERS, 1)."
    ),
    graceful_timeout: int | None = typer.Option(
        None,
        min=1,
        help="Seconds SIGTERM waits for in-flight requests before closing them "
        "(default: CATALOG_GRACEFUL_TIMEOUT_S, 30).",
    ),
) -> None:
    """Serve the API. SIGTERM stops accepting, drains in-flight requests, then exits."""
    if workers is not None:
        os.environ["CATALOG_WORKERS"] = str(workers)  # each worker sizes its pool by this
    settings = _settings()
    workers = settings.workers
    _refuse_unsafe(settings)
    if workers > 1:
        _multiprocess_metrics(port or settings.port)
    Granian(
        "catalog.app:app_from_env",
        factory=True,
        interface=Interfaces.ASGI,
        address=host,
        port=port or settings.port,
        workers=workers,
        websockets=False,
        log_level=LogLevels(settings.log_level),
        log_dictconfig=GRANIAN_LOGS,
        log_access=False,  # the app writes one access line per request itself
        workers_kill_timeout=graceful_timeout or settings.graceful_timeout_s,
        # A worker that dies (killed, out of memory) is replaced, as uvicorn did; granian's
        # default would stop the whole server. A worker dying again within 5.5 s of its
        # replacement is a crash loop, and then the server exits.
        respawn_failed_workers=True,
    ).serve()


# granian's own lines (start, stop, workers) go to the root logger: the JSON lines of
# core/logging.py, like every other line of the process.
GRANIAN_LOGS = {
    "loggers": {
        "_granian": {"handlers": [], "propagate": True},
        "granian.access": {"handlers": [], "propagate": True},
    }
}


def _multiprocess_metrics(port: int) -> None:
    """Workers write metrics to files in one directory, emptied now (stale files from a
    previous run would be added to this run's counts)."""
    directory = Path(
        os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        or Path(tempfile.gettempdir()) / f"catalog-metrics-{port}"
    )
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
    log.info("metrics_multiprocess", directory=str(directory))


@cli.command()
def migrate(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Apply database migrations (the only way the schema changes)."""
    from catalog.db.migrate import upgrade

    settings = _settings()
    upgrade(settings.database_url, revision)
    log.info("migrated", revision=revision)


@cli.command("seed-demo")
def seed_demo(
    if_empty: bool = typer.Option(False, "--if-empty", help="Do nothing if data exists."),
) -> None:
    """Load a realistic demo catalog."""
    from catalog.demo import seed

    settings = _settings()
    loaded = asyncio.run(seed(settings, only_if_empty=if_empty))
    log.info("seed_demo", loaded=loaded)


@cli.command()
def doctor(
    as_json: bool = typer.Option(False, "--json", help="A JSON list of checks, for CI."),
    workers: int | None = typer.Option(
        None, min=1, help="Workers per replica the pool check assumes (default: CATALOG_WORKERS)."
    ),
    replicas: int = typer.Option(1, min=1, help="Replicas sharing the database (pool check)."),
) -> None:
    """Run the pre-deployment checklist against this configuration and its dependencies.

    One line per check: PASS, WARN or FAIL, the check and its detail. Exit code 1 when any
    check fails.
    """
    from catalog.doctor import as_json as results_json
    from catalog.doctor import as_lines, exit_code, run_checks

    if workers is not None:
        os.environ["CATALOG_WORKERS"] = str(workers)
    settings = _settings()
    # Whatever a dependency's client logs goes to stderr: stdout is the report (--json).
    with contextlib.redirect_stdout(sys.stderr):
        results = asyncio.run(run_checks(settings, replicas=replicas))
    typer.echo(results_json(results) if as_json else as_lines(results))
    raise typer.Exit(exit_code(results))


@cli.command()
def ingest(
    url: str = typer.Argument(
        ...,
        help="SQLAlchemy URL of the database to crawl (a password may come from the driver's "
        "environment instead, e.g. PGPASSWORD); never logged.",
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan; write nothing."),
    schema: list[str] = typer.Option([], "--schema", help="A schema to read (repeatable)."),
    include: list[str] = typer.Option([], "--include", help="Only tables matching (fnmatch)."),
    exclude: list[str] = typer.Option([], "--exclude", help="Skip tables matching (fnmatch)."),
    team: str = typer.Option("data-platform", "--team", help="Team of the products made."),
    as_json: bool = typer.Option(False, "--json", help="The report as JSON."),
) -> None:
    """Crawl a database into the catalog: tables and views become products with schemas,
    columns data elements, enums and CHECK IN lists value domains, foreign keys lineage.
    A re-run updates what changed and nothing else; a dropped table is deprecated."""
    from catalog.ingest.introspect import IntrospectionError
    from catalog.ingest.run import CrawlRequest

    settings = _settings()
    request = CrawlRequest(
        url=url,
        team=team,
        schemas=tuple(schema),
        include=tuple(include),
        exclude=tuple(exclude),
        dry_run=dry_run,
    )
    try:
        report = asyncio.run(_crawl(settings, request))
    except IntrospectionError as error:
        print(f"cannot crawl: {error}", file=sys.stderr)
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2))
        return
    for table in report.tables:
        if table.action != "unchanged":
            typer.echo(table.line())
    counts = report.counts()
    typer.echo(
        ("plan" if dry_run else "done")
        + f": {counts['create']} created, {counts['update']} updated, "
        f"{counts['unchanged']} unchanged, {counts['deprecate']} deprecated; "
        f"{report.elements_created} elements created, {report.elements_updated} updated; "
        f"{report.lineage_edges} lineage edges" + (" (dry run: nothing written)" if dry_run else "")
    )
    for warning in report.warnings:
        typer.echo(f"warning: {warning}", err=True)


async def _crawl(settings: Settings, request: Any) -> Any:
    """`catalog ingest` in this process: its own engine, the service's cache (so answers a
    server cached are retired when Redis holds them), as the system."""
    from catalog.cache import open_cache
    from catalog.db.engine import WRITE, create_engine, session_factory
    from catalog.identity.principal import Actor, Principal
    from catalog.ingest.run import run_crawl
    from catalog.server.resources import open_redis

    engine = create_engine(settings)
    redis = open_redis(settings)
    cache = open_cache(settings, redis)
    actor = Actor(Principal(subject="catalog-ingest", role="admin", kind="system"))
    try:
        sessions = session_factory(engine.execution_options(**WRITE))
        return await run_crawl(request, sessions, actor, cache.retire)
    finally:
        await cache.close()
        if redis is not None:
            await redis.aclose()
        await engine.dispose()


cli.add_typer(db_commands(_settings), name="db")
cli.add_typer(graph_commands(_settings), name="graph")
cli.add_typer(search_commands(_settings), name="search")


def main() -> None:
    cli()
