"""When the index cannot be written (disk full, read-only), the catalog goes on: writes still
succeed, the lag grows and /healthz and the metrics say so, /readyz stays up, and the index
catches up by itself once the disk can be written again. Tested on a real small tmpfs."""

from __future__ import annotations

import subprocess
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from httpx import AsyncClient

from catalog.app import create_app
from catalog.settings import Settings
from tests.support.api import create_product, ok
from tests.support.metrics import scrape, value
from tests.support.search import caught_up, search_status
from tests.support.wait import until

Opener = Callable[[FastAPI], Awaitable[AsyncClient]]


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """An 8 MiB tmpfs of the test's own (mounting needs root, as CI runs)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if made.returncode != 0:
        pytest.fail(f"these tests mount a small tmpfs and need root: {made.stderr.strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> Path:
    """Write until the disk is full; the file that filled it."""
    filler = disk / "filler"
    # Unbuffered: a buffered file still holds the bytes that did not fit when it is closed,
    # and closing it raises "no space left" again, outside the loop.
    with open(filler, "wb", buffering=0) as handle:
        try:
            while True:
                handle.write(b"\0" * 65536)
        except OSError:
            pass
    return filler


async def behind(client: AsyncClient, changes: int, timeout_s: float = 20.0) -> dict[str, object]:
    """Wait until /healthz reports the index failing and `changes` changes behind (a round
    that failed before the last writes reported fewer, until the next round's retry)."""
    seen: dict[str, object] = {}

    async def falling_behind() -> dict[str, object] | None:
        seen.clear()
        seen.update(await search_status(client))
        lag = seen.get("lag_changes", 0)
        return dict(seen) if seen.get("error") and isinstance(lag, int) and lag >= changes else None

    return await until(
        falling_behind, lambda: f"the index reporting it falls behind ({seen})", timeout_s
    )


@pytest.mark.parametrize("fault", ["disk full", "read-only"])
async def test_an_unwritable_index_delays_search_and_loses_nothing(
    make_settings: Callable[..., Settings], open_client: Opener, small_disk: Path, fault: str
) -> None:
    client = await open_client(
        create_app(
            make_settings(search_index_dir=small_disk / "index", search_poll_interval_s=0.05)
        )
    )
    await create_product(client, name="Before The Fault")
    await caught_up(client)
    # A serving process has its reader open (opening one takes Tantivy's lock file, which a
    # read-only directory refuses: a process started then answers 503 until it can).
    ok(await client.get("/api/discover/search", params={"q": "fault"}))

    index = small_disk / "index"
    filler = None
    if fault == "disk full":
        filler = fill(small_disk)
    else:  # the directory read-only from now on (files open already stay writable)
        subprocess.run(["mount", "--bind", str(index), str(index)], check=True)
        subprocess.run(["mount", "-o", "remount,bind,ro", str(index)], check=True)
    try:
        for i in range(5):  # the catalog takes writes as before
            await create_product(client, name=f"During The Fault {i}")
        await behind(client, changes=5)
        assert (await client.get("/readyz")).status_code == 200

        async def pending_reported() -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
            # The gauge is as of the writer's last failed try, which may have come before the
            # writes above; the next retry (backing off) reports them.
            samples = await scrape(client)
            return samples if value(samples, "catalog_search_index_pending_changes") >= 1 else {}

        samples = await until(pending_reported, "the pending-changes gauge counting the writes", 20)
        assert value(samples, "catalog_search_index_commits_total", outcome="failed") >= 1
        assert value(samples, "catalog_search_index_lag_seconds") > 0
        # searches still answer, from the last commit
        found = ok(await client.get("/api/discover/search", params={"q": "fault"}))
        assert [r["name"] for r in found["results"]] == ["Before The Fault"]
    finally:
        if filler is not None:
            filler.unlink()
        else:
            subprocess.run(["umount", str(index)], check=True)

    await caught_up(client, timeout=60)
    found = ok(await client.get("/api/discover/search", params={"q": "fault", "limit": 50}))
    assert sorted(r["name"] for r in found["results"]) == sorted(
        ["Before The Fault", *(f"During The Fault {i}" for i in range(5))]
    )
    assert (await search_status(client))["error"] is None
