"""`catalog graph init | rebuild | status`: care of the configured graph store by hand.

`init` creates the guide's indexes (the service also does it at start, in the background);
`rebuild` wipes the store and replays every node from the catalog tables (graph/rebuild.py),
for a new or lost graph database or after a projection bug; `status` shows what the outbox
still owes. With the `sql` store there is nothing to project: each says so and succeeds.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import typer

from catalog.graph.store import GraphStore, GraphUnavailable
from catalog.settings import Settings

if TYPE_CHECKING:
    from catalog.graph.worker import OutboxWorker

T = TypeVar("T")
Work = Callable[[GraphStore, "OutboxWorker"], Awaitable[T]]


def _run(settings: Settings, work: Work[T]) -> T:
    # Imported here, not at the top: the worker's metrics must not be created when `catalog`
    # starts for another command (with PROMETHEUS_MULTIPROC_DIR set, that writes files).
    from catalog.db.engine import WRITE, create_engine, session_factory
    from catalog.graph import open_graph_store
    from catalog.graph.worker import OutboxWorker

    async def main() -> T:
        engine = create_engine(settings)
        sessions = session_factory(engine.execution_options(**WRITE))
        reads = session_factory(engine)
        store = open_graph_store(settings, reads)
        postgres = engine.dialect.name == "postgresql"
        worker = OutboxWorker.configured(
            store, sessions, settings, postgres=postgres, read_sessions=reads
        )
        try:
            return await work(store, worker)
        finally:
            await store.close()
            await engine.dispose()

    try:
        return asyncio.run(main())
    except GraphUnavailable as exc:
        typer.echo(f"graph database unavailable: {exc}", err=True)
        raise typer.Exit(1) from None


def graph_commands(load_settings: Callable[[], Settings]) -> typer.Typer:
    """The `graph` command group; `load_settings` is the CLI's (it reports bad configuration)."""
    app = typer.Typer(no_args_is_help=True, help="The graph store: indexes, rebuild, outbox.")

    @app.command()
    def init() -> None:
        """Create the guide's node and relationship indexes if missing (idempotent)."""

        async def work(store: GraphStore, _worker: OutboxWorker) -> list[str]:
            return await store.ensure_indexes()

        settings = load_settings()
        created = _run(settings, work)
        if settings.graph_store == "sql":
            typer.echo("sql graph store: it reads the catalog's own indexed tables")
            return
        for statement in created:
            typer.echo(statement)
        typer.echo(f"{len(created)} index(es) created; the others already existed")

    @app.command()
    def rebuild() -> None:
        """Wipe the graph store and project every node again from the catalog tables."""

        from catalog.graph.rebuild import rebuild as run_rebuild

        async def work(store: GraphStore, worker: OutboxWorker) -> dict[str, int]:
            return await run_rebuild(store, worker.read_sessions) if store.projected else {}

        settings = load_settings()
        counts = _run(settings, work)
        if not counts:
            typer.echo("sql graph store: nothing to rebuild (it reads the catalog tables)")
            return
        for label, count in counts.items():
            typer.echo(f"{label:20} {count}")
        typer.echo(f"rebuilt {sum(counts.values())} node(s) into {settings.graph_store}")

    @app.command()
    def status(
        as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    ) -> None:
        """The store in use, whether it answers, outbox rows pending and the age of the oldest."""

        async def work(store: GraphStore, worker: OutboxWorker) -> dict[str, Any]:
            try:
                await store.ping()
                reachable = True
            except GraphUnavailable:
                reachable = False
            return {**await worker.status(), "projected": store.projected, "reachable": reachable}

        report = _run(load_settings(), work)
        if as_json:
            typer.echo(json.dumps(report))
        else:
            typer.echo("  ".join(f"{key}={value}" for key, value in report.items()))

    return app
