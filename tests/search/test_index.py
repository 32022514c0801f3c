"""The search index as an operator meets it, through HTTP: 503 until a first index exists,
readers in other processes see the writer's commits, the writer's lock moves when it stops,
indexes that cannot be followed are rebuilt at start, and the metrics tell the state."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient

from catalog.app import create_app
from catalog.changes.repository import ChangeLogRepository
from catalog.db.engine import WRITE, create_engine, session_factory
from catalog.settings import Settings
from tests.support.api import create_product, error_of, ok
from tests.support.lifespan import started
from tests.support.metrics import scrape, value
from tests.support.search import caught_up, search_status

SEARCH = "/api/discover/search"
Opener = Callable[[FastAPI], Awaitable[AsyncClient]]


async def names(client: AsyncClient, **params: Any) -> list[str]:
    await caught_up(client)
    return [r["name"] for r in ok(await client.get(SEARCH, params=params))["results"]]


async def test_search_answers_503_until_an_index_exists(
    make_settings: Callable[..., Settings], open_client: Opener, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("an index directory cannot live under a file")
    client = await open_client(create_app(make_settings(search_index_dir=blocker / "index")))
    for path, params in (
        (SEARCH, {"q": "x"}),
        ("/api/discover/suggest", {"q": "x"}),
        ("/api/discover/marketplace", {}),
    ):
        answer = await client.get(path, params=params)
        error = error_of(answer, 503)
        assert int(answer.headers["retry-after"]) == error["retry_after"] >= 1
        assert "search index is not ready" in error["details"]
    assert (await client.get("/readyz")).status_code == 200  # the rest of the API serves
    await create_product(client, name="Written Anyway")
    status = await search_status(client)
    assert status["status"] == "building"
    assert status["error"]  # why the writer cannot build it


async def test_other_processes_read_what_the_writer_commits_and_take_over_its_lock(
    make_settings: Callable[..., Settings], open_client: Opener
) -> None:
    """Two apps on one index directory are two workers of one host: one writes, both read;
    when the writer stops, the other takes the lock and goes on."""
    first = started(create_app(make_settings()))
    await first.__aenter__()
    writer = AsyncClient(transport=ASGITransport(app=first.app), base_url="http://w")
    await caught_up(writer)
    reader = await open_client(create_app(make_settings(search_poll_interval_s=0.05)))
    assert (await search_status(writer))["writer"] is True
    status = await search_status(reader)
    assert status["writer"] is False
    assert status["writer_pid"] is not None

    await create_product(reader, name="Seen By Both")  # the reader's write: the writer applies it
    assert await names(reader, q="seen") == ["Seen By Both"]
    assert await names(writer, q="seen") == ["Seen By Both"]

    await writer.aclose()
    await first.__aexit__(None, None, None)
    await create_product(reader, name="After The Writer Left")
    assert await names(reader, q="after writer") == ["After The Writer Left"]
    assert (await search_status(reader))["writer"] is True


async def test_metrics_tell_the_index_state(
    make_settings: Callable[..., Settings], open_client: Opener
) -> None:
    client = await open_client(create_app(make_settings()))
    for i in range(3):
        await create_product(client, name=f"Metric Product {i}")
    assert len(await names(client, q="metric")) == 3
    ok(await client.get("/api/discover/suggest", params={"q": "met"}))
    samples = await scrape(client)
    assert value(samples, "catalog_search_index_documents") == 3
    assert value(samples, "catalog_search_index_lag_seconds") == 0
    assert value(samples, "catalog_search_index_pending_changes") == 0
    for kind in ("search", "suggest"):
        assert value(samples, "catalog_search_query_duration_seconds_count", kind=kind) >= 1
    assert value(samples, "catalog_search_index_commits_total", outcome="committed") >= 1
    assert value(samples, "catalog_search_index_rebuilds_total", reason="no_index") >= 1


async def restart(settings: Settings, opener: Opener) -> AsyncClient:
    return await opener(create_app(settings))


async def prune_everything(database_url: str) -> int:
    """Delete every change but the newest; the horizon moves past what an index applied."""
    engine = create_engine(Settings(database_url=database_url))
    try:
        async with session_factory(engine.execution_options(**WRITE))() as session:
            log = ChangeLogRepository(session)
            await log.prune(datetime.now(UTC) + timedelta(days=1))
            await session.commit()
            return await log.horizon()
    finally:
        await engine.dispose()


async def test_an_index_behind_the_retained_log_is_rebuilt_at_start(
    make_settings: Callable[..., Settings],
    open_client: Opener,
    tmp_path: Path,
    database_url: str,
) -> None:
    mine = make_settings(search_index_dir=tmp_path / "mine")
    async with started(create_app(mine)) as manager:
        client = AsyncClient(transport=ASGITransport(app=manager.app), base_url="http://a")
        await create_product(client, name="Before The Outage")
        await caught_up(client)
        await client.aclose()
    # Another replica writes while this one is down, and the log is pruned meanwhile.
    other = await open_client(create_app(make_settings(search_index_dir=tmp_path / "other")))
    for name in ("Written Meanwhile One", "Written Meanwhile Two"):
        await create_product(other, name=name)
    assert await prune_everything(database_url) > 0
    client = await open_client(create_app(mine))
    assert sorted(await names(client, q="meanwhile")) == [
        "Written Meanwhile One",
        "Written Meanwhile Two",
    ]
    samples = await scrape(client)
    assert value(samples, "catalog_search_index_rebuilds_total", reason="behind") >= 1


@pytest.mark.parametrize("damage", ["corrupt", "foreign format", "another database"])
async def test_an_index_that_cannot_be_followed_is_rebuilt_at_start(
    make_settings: Callable[..., Settings], open_client: Opener, tmp_path: Path, damage: str
) -> None:
    directory = tmp_path / "index"
    settings = make_settings(search_index_dir=directory)
    async with started(create_app(settings)) as manager:
        client = AsyncClient(transport=ASGITransport(app=manager.app), base_url="http://a")
        await create_product(client, name="Survives Any Damage")
        await caught_up(client)
        await client.aclose()
    [generation] = [p for p in directory.iterdir() if p.name.startswith("gen-")]
    if damage == "corrupt":
        for path in generation.iterdir():
            if path.suffix in {".idx", ".store", ".term"} or path.name == "meta.json":
                path.write_bytes(b"\x00garbage")
    else:
        rewrite_state(generation, damage)
    client = await open_client(create_app(settings))
    assert await names(client, q="damage") == ["Survives Any Damage"]
    assert [p.name for p in directory.iterdir() if p.name.startswith("gen-")] != [generation.name]


def rewrite_state(generation: Path, damage: str) -> None:
    """Commit a `meta` document of another format, or of another database, into the index."""
    from dataclasses import replace

    from catalog.search.batch import meta_document
    from catalog.search.index import open_index, read_state

    index = open_index(generation)
    index.reload()
    state = read_state(index.searcher(), index.schema)
    assert state is not None
    changed = (
        replace(state, format=state.format + 100)
        if damage == "foreign format"
        else replace(state, database="0123456789abcdef")
    )
    writer = index.writer(64_000_000, 1)
    writer.delete_documents_by_term("key", "meta")
    writer.add_document(meta_document(changed))
    writer.commit()
    writer.wait_merging_threads()
