"""`catalog db indexes | analyze | reindex | advise`: database care from the command line.

The work is done by catalog.db.indexes and .maintenance and by catalog.ops.advisor; this module
only parses options and prints (a readable table, or `--json` with the shape of the HTTP
answer).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

import typer
from sqlalchemy.ext.asyncio import AsyncEngine

from catalog.db.engine import create_engine
from catalog.settings import Settings

T = TypeVar("T")


def human_bytes(size: int | None) -> str:
    if size is None:
        return "-"
    if size < 1024:
        return f"{size} B"
    value, unit = float(size) / 1024, "kB"
    for bigger in ("MB", "GB", "TB"):
        if value < 1024:
            break
        value, unit = value / 1024, bigger
    return f"{value:.1f} {unit}"


def _json(value: Any) -> str:
    def default(item: Any) -> Any:
        if isinstance(item, datetime):
            return item.isoformat()
        raise TypeError(type(item).__name__)

    return json.dumps(value, indent=2, default=default)


def _run(settings: Settings, work: Callable[[AsyncEngine], Awaitable[T]]) -> T:
    async def main() -> T:
        engine = create_engine(settings)
        try:
            return await work(engine)
        finally:
            await engine.dispose()

    return asyncio.run(main())


def print_index_report(report: dict[str, Any]) -> None:
    rows = [("TABLE", "INDEX", "SIZE", "SCANS", "FLAGS")]
    for index in report["indexes"]:
        flags = [
            index["expected"] or "",
            "primary" if index["primary"] else ("unique" if index["unique"] else ""),
            "UNUSED" if index["unused"] else "",
            "INVALID" if not index["valid"] else "",
        ]
        scans = "-" if index["scans"] is None else str(index["scans"])
        size = human_bytes(index["size_bytes"])
        flag_text = " ".join(f for f in flags if f)
        rows.append((index["table"], index["name"], size, scans, flag_text))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        left = "  ".join(
            cell.rjust(width) if i in (2, 3) else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(row[:4], widths, strict=True))
        )
        typer.echo(f"{left}  {row[4]}".rstrip())
    since = report["stats_reset"] or "statistics began"
    total = human_bytes(report["total_size_bytes"])
    summary = f"\n{len(report['indexes'])} indexes, {total} in all"
    if report["database"] == "postgresql":
        summary += (
            f"; {len(report['unused'])} UNUSED (no scan since {since}, enforce nothing: "
            "candidates to drop once the statistics cover a busy period)"
        )
    else:
        summary += "; SQLite keeps neither index sizes nor scan counts"
    typer.echo(summary)
    if not report["missing"]:
        typer.echo("every expected index is present (guide, search and schema indexes)")
    for missing in report["missing"]:
        columns = ", ".join(missing["columns"]) or "expression"
        typer.echo(
            f"MISSING {missing['name']} on {missing['table']} ({columns}), "
            f"{missing['origin']} index: {missing['reason']}"
        )


def print_advice(advice: dict[str, Any]) -> None:
    typer.echo(f"source: {advice['source']} ({advice['source_detail']})")
    typer.echo(advice["hypopg_detail"])
    typer.echo(f"\nexplained {len(advice['explained'])} queries (estimated cost, generic plan):")
    for item in advice["explained"]:
        if item["error"]:
            typer.echo(f"  {'-':>10}  {item['label']}: not explained ({item['error']})")
            continue
        scans = "; ".join(f"seq scan {s['table']} {s['filter']}" for s in item["seq_scans"])
        typer.echo(f"  {item['cost']:>10.2f}  {item['label']}" + (f"  [{scans}]" if scans else ""))
    typer.echo("")
    if not advice["suggestions"]:
        typer.echo("no index to suggest")
    for suggestion in advice["suggestions"]:
        gain = ""
        if suggestion["gain_percent"] is not None:
            gain = (
                f" (cost {suggestion['cost_before']} -> {suggestion['cost_after']}, "
                f"{suggestion['gain_percent']:.1f}% less)"
            )
        typer.echo(f"{suggestion['status'].upper()}: {suggestion['statement']};{gain}")
        typer.echo(f"    for: {', '.join(suggestion['queries'])}")
    for note in advice["notes"]:
        typer.echo(f"note: {note}")


def db_commands(load_settings: Callable[[], Settings]) -> typer.Typer:
    """The `db` command group; `load_settings` is the CLI's (it reports bad configuration)."""
    app = typer.Typer(
        no_args_is_help=True, help="Database care: indexes, statistics, rebuilds, index advice."
    )

    @app.command()
    def indexes(
        as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    ) -> None:
        """Every index with its size and scans; UNUSED and MISSING (guide) indexes flagged."""
        from catalog.db.indexes import index_report

        async def work(engine: AsyncEngine) -> dict[str, Any]:
            async with engine.connect() as connection:
                return (await index_report(connection)).as_dict()

        report = _run(load_settings(), work)
        if as_json:
            typer.echo(_json(report))
        else:
            print_index_report(report)

    @app.command()
    def analyze() -> None:
        """Refresh the planner's statistics (ANALYZE) of every table."""
        from catalog.db.maintenance import analyze as run_analyze

        outcome = _run(load_settings(), run_analyze)
        if outcome.error:
            typer.echo(f"ANALYZE failed: {outcome.error}", err=True)
            raise typer.Exit(1)
        typer.echo(f"analyzed in {outcome.seconds:.2f} s")

    @app.command()
    def reindex(
        concurrently: bool = typer.Option(
            False,
            "--concurrently",
            help="PostgreSQL: rebuild one index at a time without blocking writes.",
        ),
        index: list[str] = typer.Option(
            [], "--index", help="Only this index (repeatable); default: all of them."
        ),
    ) -> None:
        """Rebuild indexes: REINDEX DATABASE, or REINDEX INDEX CONCURRENTLY one by one."""
        from catalog.db.maintenance import reindex as run_reindex

        async def work(engine: AsyncEngine) -> Any:
            return await run_reindex(engine, concurrently=concurrently, indexes=index or None)

        outcomes = _run(load_settings(), work)
        for outcome in outcomes:
            if outcome.error:
                typer.echo(f"FAILED {outcome.target}: {outcome.error}")
            else:
                typer.echo(f"reindexed {outcome.target} in {outcome.seconds:.2f} s")
        if any(outcome.error for outcome in outcomes):
            raise typer.Exit(1)

    @app.command()
    def advise(
        as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
        limit: int = typer.Option(10, min=1, help="How many of the slowest queries to explain."),
    ) -> None:
        """EXPLAIN the slowest queries and suggest indexes (PostgreSQL; hypopg validates)."""
        from catalog.ops.advisor import advise as run_advise

        settings = load_settings()
        if settings.is_sqlite:
            typer.echo(
                "catalog db advise reads PostgreSQL's planner and statistics; on SQLite use "
                "`catalog db indexes` and `catalog db analyze`",
                err=True,
            )
            raise typer.Exit(1)

        async def work(engine: AsyncEngine) -> dict[str, Any]:
            return (await run_advise(engine, settings, limit=limit)).as_dict()

        advice = _run(settings, work)
        if as_json:
            typer.echo(_json(advice))
        else:
            print_advice(advice)

    return app
