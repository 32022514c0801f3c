"""`catalog search rebuild | status`: care of the search index by hand.

`status` reads the index directory and the change log: documents, the position and how far
behind it is (changes and seconds), the last commit, the writer's pid. `rebuild` builds a new
generation from the database: in this process when no writer runs, else by asking the running
writer (which rebuilds beside the live index, so searches go on) and waiting for it.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import typer

from catalog.settings import Settings

WAIT_POLL_S = 0.5


def _status(settings: Settings) -> dict[str, Any]:
    from catalog.changes.repository import ChangeLogRepository
    from catalog.db.engine import create_engine, session_factory
    from catalog.search.directory import IndexDirectory, default_root
    from catalog.search.index import Expected, SearchIndex
    from catalog.search.projector import documents

    directory = IndexDirectory(default_root(settings))
    reader = SearchIndex(directory, Expected.of(settings))
    snapshot = reader.refresh_now()
    report: dict[str, Any] = {
        "directory": str(directory.root),
        "generation": snapshot.generation if snapshot else None,
        "ready": snapshot is not None,
        "problem": reader.problem,
        "writer_pid": directory.writer_pid(),
    }
    position = 0
    if snapshot is not None:
        position = snapshot.state.position
        report |= {
            "documents": documents(snapshot.searcher, snapshot.schema),
            "position": position,
            "last_commit": time.strftime(
                "%Y-%m-%dT%H:%M:%SZ", time.gmtime(snapshot.state.committed_at)
            ),
            "usage_folded_until": snapshot.state.usage_since,
        }
    reader.close()

    async def lag() -> dict[str, Any]:
        engine = create_engine(settings)
        try:
            async with session_factory(engine)() as session:
                log = ChangeLogRepository(session)
                pending, oldest = await log.pending(position)
                latest = await log.latest()
        finally:
            await engine.dispose()
        age = max(0.0, time.time() - oldest.timestamp()) if oldest is not None else 0.0
        return {"latest_change": latest, "lag_changes": pending, "lag_seconds": round(age, 3)}

    return report | asyncio.run(lag())


def _rebuild_here(settings: Settings) -> dict[str, int] | None:
    """Rebuild in this process when no writer runs; None when one does."""
    from catalog.db.engine import WRITE, create_engine, session_factory
    from catalog.search.directory import IndexDirectory, default_root
    from catalog.search.index import Expected, SearchIndex
    from catalog.search.projector import SearchProjector

    directory = IndexDirectory(default_root(settings))
    if not directory.try_lock():
        return None

    async def main() -> dict[str, int]:
        engine = create_engine(settings)
        reader = SearchIndex(directory, Expected.of(settings))
        projector = SearchProjector(
            directory,
            reader,
            read_sessions=session_factory(engine),
            write_sessions=session_factory(engine.execution_options(**WRITE)),
            settings=settings,
        )
        try:
            return await projector.rebuild("requested")
        finally:
            projector.release()
            reader.close()
            await engine.dispose()

    try:
        return asyncio.run(main())
    finally:
        directory.unlock()


def search_commands(load_settings: Callable[[], Settings]) -> typer.Typer:
    """The `search` command group; `load_settings` is the CLI's (it reports bad configuration)."""
    app = typer.Typer(no_args_is_help=True, help="The search index: status and rebuild.")

    @app.command()
    def status(
        as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    ) -> None:
        """Documents, position, lag (changes and seconds), last commit and the writer's pid."""
        report = _status(load_settings())
        if as_json:
            typer.echo(json.dumps(report))
        else:
            for key, value in report.items():
                typer.echo(f"{key:20} {value}")

    @app.command()
    def rebuild(
        timeout: float = typer.Option(
            600.0, min=1, help="Seconds to wait for a running writer's rebuild."
        ),
    ) -> None:
        """Build the index again from the database (searches go on from the old one)."""
        settings = load_settings()
        counts = _rebuild_here(settings)
        if counts is not None:
            typer.echo("rebuilt: " + ", ".join(f"{n} {kind}" for kind, n in counts.items()))
            return
        _ask_the_writer(settings, timeout)

    return app


def _ask_the_writer(settings: Settings, timeout_s: float) -> None:
    from catalog.search.directory import IndexDirectory, default_root

    directory = IndexDirectory(default_root(settings))
    before = directory.current()
    directory.request_rebuild()
    typer.echo(f"asked the running writer (pid {directory.writer_pid()}) to rebuild")
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        current = directory.current()
        if current is not None and current != before:
            typer.echo(f"rebuilt: generation {current.name}")
            return
        time.sleep(WAIT_POLL_S)
    typer.echo(f"the writer did not finish a rebuild within {timeout_s:g}s", err=True)
    raise typer.Exit(1)
