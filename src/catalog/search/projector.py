"""The writer of a host's index: elected by a file lock, it follows the change log.

Every `catalog serve` worker runs a projector; the one holding `writer.lock` (directory.py)
writes, the others retry the lock every LOCK_RETRY_S, so when the writer dies another worker
takes over within about a second. The writer:

1. opens the live generation, or rebuilds one from the database when it is missing,
   unreadable, of another format, built from another database, or behind the retained change
   log (its position below the prune horizon). Searches answer 503 until a first index exists;
   a rebuild beside a live index disturbs nobody (readers switch when it is complete);
2. every round (woken by this process's commits, else every CATALOG_SEARCH_POLL_INTERVAL_S;
   never sooner than that after a commit: a stream of writes makes one commit an interval,
   not one a write) reads the changes after its position, maps them to documents (a product;
   a tag and every product under it; an element and every product holding it), reads those
   from the database and replaces them, then commits them with the new position in one
   Tantivy commit;
3. every CATALOG_SEARCH_USAGE_INTERVAL_S folds in usage counters (views, ratings, approved
   access) that moved: popularity in the index is at most that many seconds (plus a round)
   behind the counters, while every other change is applied within a round or two. The
   same round re-indexes the STALE_REFRESH products indexed longest ago (over a day), so the
   freshness in their ranking hint never drifts far (ranking.py);
4. every PRUNE_INTERVAL_S deletes change-log rows older than CATALOG_CHANGE_LOG_RETENTION_S.

Replicas each keep their own directory and follow the same log by id: they converge without
talking to each other. A failed round (disk full, directory read-only) discards the
uncommitted work and retries with backoff; catalog writes are not affected, the lag grows and
`/healthz` and `catalog_search_index_lag_seconds` show it, and the index catches up when the
cause goes away.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import time
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import orjson
import tantivy
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from catalog.changes.repository import Change, ChangeLogRepository
from catalog.core.logging import get_logger
from catalog.core.retry import Backoff
from catalog.core.tasks import stop_task, wait_for_any
from catalog.core.time import utcnow
from catalog.observability.tracing import untraced
from catalog.search import metrics
from catalog.search.batch import Batch, apply
from catalog.search.directory import IndexDirectory
from catalog.search.fields import FORMAT, build_schema, register_analyzers
from catalog.search.index import (
    Expected,
    IndexState,
    SearchIndex,
    count_matches,
    open_index,
    read_state,
)
from catalog.search.ranking import Weights
from catalog.search.repository import SourceRepository
from catalog.settings import Settings

log = get_logger(__name__)

PROJECTOR_TASK = "search-projector"
LOCK_RETRY_S = 1.0
PRUNE_INTERVAL_S = 600.0
HORIZON_CHECK_S = 60.0
USAGE_OVERLAP_S = 10.0  # usage rows committed up to 10 s after their timestamp still count
CHUNK = 2000  # products read and indexed at a time
STALE_REFRESH = 500  # products re-indexed per usage fold because they were indexed long ago
STALE_AFTER_S = 86_400.0
MAX_BACKOFF_S = 30.0
STOP_GRACE_S = 20.0
WRITER_THREADS = 1


class RebuildStopped(RuntimeError):
    """The process is stopping: a rebuild gives up (the next writer starts it again)."""


class SearchProjector:
    def __init__(
        self,
        directory: IndexDirectory,
        reader: SearchIndex,
        *,
        read_sessions: async_sessionmaker[AsyncSession],
        write_sessions: async_sessionmaker[AsyncSession],
        settings: Settings,
    ) -> None:
        self.directory = directory
        self.reader = reader
        self.read_sessions = read_sessions
        self.write_sessions = write_sessions
        self.batch = settings.search_batch
        self.interval_s = settings.search_poll_interval_s
        # The pause between rounds: the interval, doubled per consecutive failure.
        self.backoff = Backoff(self.interval_s, MAX_BACKOFF_S)
        self.usage_interval_s = settings.search_usage_interval_s
        self.retention_s = settings.change_log_retention_s
        self.heap_bytes = settings.search_writer_memory_mb * 1_000_000
        self.expected = Expected.of(settings)
        self.weights = Weights.from_settings(settings)
        self.last_error: str | None = None
        self.rebuilding: str | None = None  # the reason, while a rebuild runs
        self._index: tantivy.Index | None = None
        self._writer: tantivy.IndexWriter | None = None
        self._state: IndexState | None = None
        self._oldest_pending: datetime | None = None
        self._next_usage = 0.0
        self._next_prune = 0.0
        self._next_horizon_check = 0.0
        self._commits = 0
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()

    # --- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=PROJECTOR_TASK)

    def wake(self) -> None:
        """Apply changes now (this process just committed some)."""
        self._wake.set()

    async def stop(self) -> None:
        """Let the round under way finish (a rebuild stops between pages), then close the
        writer. Cancelling mid-round would leave an engine call running in its thread with
        the writer, which then could not be closed, and Tantivy's lock would stay taken."""
        self._stopping.set()
        self._wake.set()
        if self._task is not None:
            done, _pending = await asyncio.wait({self._task}, timeout=STOP_GRACE_S)
            if not done:
                await stop_task(self._task)
        self._task = None
        await asyncio.to_thread(self.release)
        self.directory.unlock()

    async def _run(self) -> None:
        with untraced():  # a poll every fraction of a second is no trace worth keeping
            await self._loop()

    async def _loop(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            more = False
            commits = self._commits
            try:
                more = await self.run_once()
                failures = 0
                self.last_error = None
            except (asyncio.CancelledError, KeyboardInterrupt, SystemExit):
                raise
            except BaseException as exc:  # unwritable (or a Rust panic): changes wait in the log
                failures += 1
                self.last_error = f"{type(exc).__name__}: {exc}"[:300]
                metrics.INDEX_COMMITS.labels("failed").inc()
                log.warning("search_index_round_failed", error=self.last_error, failures=failures)
                await asyncio.to_thread(self._discard_writer)
                await self._observe_from_log()
            if more:
                continue
            self._wake.clear()
            if not self.directory.locked_here:
                pause = LOCK_RETRY_S
            else:
                pause = self.backoff.pause_s(failures + 1)  # interval * 2**failures, capped
            # After a failure, or right after a commit, writes do not cut the pause short:
            # under a stream of writes the index commits once an interval, not once a write.
            calm = failures or self._commits != commits
            waiters = {self._stopping} if calm else {self._wake, self._stopping}
            await wait_for_any(waiters, pause)

    async def run_once(self) -> bool:
        """One round: become the writer if possible, then apply what waits. True when more
        changes wait than one round takes."""
        if not self.directory.locked_here:
            if not await asyncio.to_thread(self.directory.try_lock):
                return False
            log.info("search_index_writer_elected", directory=str(self.directory.root))
        if self._writer is None:
            await self._open()
        if self.directory.take_rebuild_request():
            await self.rebuild("requested")
        more = await self._follow()
        await self._prune_if_due()
        return more

    def release(self) -> None:
        """Drop the writer and the index (the directory lock is the caller's)."""
        self._discard_writer()
        self._index = None

    def _discard_writer(self) -> None:
        """Drop the writer and its uncommitted work. Tantivy releases its own lock only when
        the writer is consumed (waiting for its merges), not when Python forgets it."""
        writer, self._writer = self._writer, None
        if writer is None:
            return
        for step in (writer.rollback, writer.wait_merging_threads):
            try:
                step()
            except Exception as exc:  # a broken writer: dropping it is all that is left
                log.debug("search_index_writer_discard", step=step.__name__, error=repr(exc)[:200])

    # --- opening and rebuilding ------------------------------------------------------------

    async def _open(self) -> None:
        reason, index, state = await asyncio.to_thread(self._inspect)
        if reason is None and state is not None:
            async with self.read_sessions() as session:
                if state.position < await ChangeLogRepository(session).horizon():
                    reason = "behind the retained change log"
        if reason is not None or index is None or state is None:
            await self.rebuild(reason or "no index")
            return
        self._index, self._state = index, state
        self._writer = await asyncio.to_thread(index.writer, self.heap_bytes, WRITER_THREADS)

    def _inspect(self) -> tuple[str | None, tantivy.Index | None, IndexState | None]:
        """Whether the live generation can be followed, and if not why."""
        generation = self.directory.current()
        if generation is None:
            return "no index", None, None
        try:
            index = open_index(generation)
            index.reload()
            state = read_state(index.searcher(), index.schema)
        except Exception as exc:
            return f"unreadable ({type(exc).__name__})", None, None
        problem = self.expected.problem(state)
        if problem is not None:
            return problem, None, None
        return None, index, state

    async def rebuild(self, reason: str) -> dict[str, int]:
        """Build a new generation from the database, publish it, and write to it from now on."""
        log.info("search_index_rebuild_started", reason=reason)
        metrics.INDEX_REBUILDS.labels(_reason_label(reason)).inc()
        self.rebuilding = reason
        started = time.monotonic()
        try:
            async with self.read_sessions() as session:
                position = await ChangeLogRepository(session).latest()
            usage_since = utcnow()
            generation = await asyncio.to_thread(self.directory.new_generation)
            writer: tantivy.IndexWriter | None = None
            try:
                index = await asyncio.to_thread(_create_index, str(generation))
                writer = await asyncio.to_thread(index.writer, self.heap_bytes, WRITER_THREADS)
                assert writer is not None
                counts = await self._fill(writer)
                state = IndexState(
                    FORMAT,
                    position,
                    usage_since.isoformat(),
                    time.time(),
                    self.expected.database,
                    self.expected.weights,
                )
                await asyncio.to_thread(_commit, writer, Batch(), state, False)
            except BaseException:
                await asyncio.to_thread(_consume, writer)
                await asyncio.to_thread(shutil.rmtree, generation, True)
                raise
            await asyncio.to_thread(self._discard_writer)
            await asyncio.to_thread(self.directory.publish, generation)
            self._index, self._writer, self._state = index, writer, state
            await asyncio.to_thread(self.directory.discard_others, generation)
        finally:
            self.rebuilding = None
        self.reader.refresh_now()
        self._set_documents()
        log.info(
            "search_index_rebuilt",
            reason=reason,
            seconds=round(time.monotonic() - started, 2),
            position=position,
            **counts,
        )
        return counts

    async def _fill(self, writer: tantivy.IndexWriter) -> dict[str, int]:
        """Every product, tag and element, page by page."""
        counts = {"products": 0, "tags": 0, "elements": 0}
        async with self.read_sessions() as session:
            forest = await SourceRepository(session).tag_forest()
        tags = Batch(tags=dict(forest), forest=forest, weights=self.weights)
        await asyncio.to_thread(apply, writer, tags, None, replace=False)
        counts["tags"] = len(forest)
        for kind in ("product", "element"):
            after = ""
            while True:
                async with self.read_sessions() as session:
                    repo = SourceRepository(session)
                    ids = await repo.ids_after(kind, after, CHUNK)
                    if not ids:
                        break
                    if self._stopping.is_set():
                        raise RebuildStopped(f"stopped after {counts} documents")
                    batch = Batch(forest=forest, weights=self.weights)
                    if kind == "product":
                        batch.products = {s.id: s for s in await repo.products(ids)}
                    else:
                        batch.elements = dict(await repo.element_names(ids))
                await asyncio.to_thread(apply, writer, batch, None, replace=False)
                counts[f"{kind}s"] += len(ids)
                after = ids[-1]
        return counts

    # --- following the change log ------------------------------------------------------

    async def _follow(self) -> bool:
        assert self._state is not None
        state = self._state
        now = time.monotonic()
        async with self.read_sessions() as session:
            changes_log = ChangeLogRepository(session)
            if now >= self._next_horizon_check:
                self._next_horizon_check = now + HORIZON_CHECK_S
                if state.position < await changes_log.horizon():
                    await self.rebuild("behind the retained change log")
                    return True
            changes = await changes_log.after(state.position, self.batch)
            self._oldest_pending = changes[0].created_at if changes else None
            self._observe_lag(pending=len(changes))
            usage: set[str] = set()
            usage_since = state.usage_since
            if now >= self._next_usage:
                self._next_usage = now + self.usage_interval_s
                moment = utcnow()
                since = datetime.fromisoformat(usage_since) - timedelta(seconds=USAGE_OVERLAP_S)
                usage = await SourceRepository(session).usage_changed_since(since)
                usage |= self._stalest()
                usage_since = moment.isoformat()
            if not changes and not usage:
                return False
            products, tags, elements = self._touched(changes)
            products |= usage
        position = changes[-1].id if changes else state.position
        new_state = replace(
            state, position=position, usage_since=usage_since, committed_at=time.time()
        )
        await self._replace(products, tags, elements, new_state)
        self._state = new_state
        self._commits += 1
        # The index took a commit: it is writable again, whatever failed before. Said now, not
        # at the round's end, so /healthz never shows "caught up" beside a stale error while
        # the round's last steps (the change-log prune) still run.
        self.last_error = None
        self.reader.refresh_now()
        metrics.INDEX_COMMITS.labels("committed").inc()
        self._set_documents()
        more = len(changes) >= self.batch
        if not more:
            self._oldest_pending = None
            self._observe_lag(pending=0)
        return more

    def _touched(self, changes: list[Change]) -> tuple[set[str], set[str], set[str]]:
        """Products, tags and elements whose documents the changes touch."""
        products: set[str] = set()
        tags: set[str] = set()
        elements: set[str] = set()
        for change in changes:
            if change.ref.label == "DataProduct":
                products.add(change.ref.id)
            elif change.ref.label == "Tag":
                tags.add(change.ref.id)
            elif change.ref.label == "DataElement":
                elements.add(change.ref.id)
        # Products under a changed tag (its name is in their tag paths) or holding a changed
        # element, as the index knows them (a deleted tag's product rows are gone already).
        products |= self._documents_with("tag_ids", tags)
        products |= self._documents_with("element_ids", elements)
        return products, tags, elements

    def _stalest(self) -> set[str]:
        """A few products not re-indexed for a day (their `rank_hint` freshness drifts)."""
        if self._index is None:
            return set()
        searcher = self._index.searcher()
        kind = tantivy.Query.term_query(self._index.schema, "kind", "product")
        hits = searcher.search(
            kind, STALE_REFRESH, count=False, order_by_field="indexed_ts", order=tantivy.Order.Asc
        ).hits
        cutoff = (time.time() - STALE_AFTER_S) * 1_000_000
        stale = [address for indexed, address in hits if indexed < cutoff]
        return {str(orjson.loads(searcher.doc(a)["doc"][0])["id"]) for a in stale}

    def _documents_with(self, field: str, values: set[str]) -> set[str]:
        if not values or self._index is None:
            return set()
        self._index.reload()
        searcher = self._index.searcher()
        query = tantivy.Query.term_set_query(self._index.schema, field, sorted(values))
        count = count_matches(searcher, query)
        if not count:
            return set()
        spec = {"keys": {"terms": {"field": "key", "size": count, "segment_size": count}}}
        buckets = searcher.aggregate(query, spec)["keys"]["buckets"]
        return {str(bucket["key"]) for bucket in buckets}

    async def _replace(
        self, products: set[str], tags: set[str], elements: set[str], state: IndexState
    ) -> None:
        """Replace the documents, a chunk at a time, and commit them with `state`."""
        writer = self._writer
        assert writer is not None
        ordered = sorted(products)
        async with self.read_sessions() as session:
            repo = SourceRepository(session)
            forest = await repo.tag_forest() if (ordered or tags) else {}
            names = await repo.element_names(elements)
        first = Batch(
            tags={t: forest.get(t) for t in tags},
            elements={e: names.get(e) for e in elements},
            forest=forest,
            weights=self.weights,
        )
        await asyncio.to_thread(apply, writer, first, None, replace=True)
        for start in range(0, len(ordered), CHUNK):
            chunk = ordered[start : start + CHUNK]
            async with self.read_sessions() as session:
                found = {s.id: s for s in await SourceRepository(session).products(chunk)}
            batch = Batch(
                products={p: found.get(p) for p in chunk}, forest=forest, weights=self.weights
            )
            await asyncio.to_thread(apply, writer, batch, None, replace=True)
        await asyncio.to_thread(_commit, writer, Batch(), state, True)

    # --- housekeeping --------------------------------------------------------------------

    async def _prune_if_due(self) -> None:
        now = time.monotonic()
        if now < self._next_prune:
            return
        self._next_prune = now + PRUNE_INTERVAL_S
        before = utcnow() - timedelta(seconds=self.retention_s)
        async with self.write_sessions() as session:
            deleted = await ChangeLogRepository(session).prune(before)
            await session.commit()
        if deleted:
            log.info("change_log_pruned", deleted=deleted, before=before.isoformat())

    async def _observe_from_log(self) -> None:
        """Lag and pending changes read from the log itself (after a failed round, so the
        metrics keep telling how far behind the index falls while it cannot be written)."""
        if self._state is None:
            return
        try:
            async with self.read_sessions() as session:
                pending, oldest = await ChangeLogRepository(session).pending(self._state.position)
        except Exception as exc:  # the database is down too: /readyz says so
            log.debug("search_index_lag_unknown", error=repr(exc)[:200])
            return
        self._oldest_pending = oldest
        self._observe_lag(pending=pending)

    def _observe_lag(self, pending: int | None = None) -> None:
        oldest = self._oldest_pending
        lag = 0.0 if oldest is None else max(0.0, time.time() - oldest.timestamp())
        metrics.INDEX_LAG.set(lag)
        if pending is not None:
            metrics.INDEX_PENDING.set(pending)

    def _set_documents(self) -> None:
        snapshot = self.reader.snapshot()
        if snapshot is not None:
            metrics.INDEX_DOCUMENTS.set(documents(snapshot.searcher, snapshot.schema))

    def describe(self) -> dict[str, Any]:
        """This process's part, for /healthz."""
        return {
            "directory": str(self.directory.root),
            "writer": self.directory.locked_here,
            "writer_pid": self.directory.writer_pid(),
            "rebuilding": self.rebuilding,
            "error": self.last_error,
        }


def documents(searcher: tantivy.Searcher, schema: tantivy.Schema) -> int:
    return count_matches(searcher, tantivy.Query.term_query(schema, "kind", "product"))


def _consume(writer: tantivy.IndexWriter | None) -> None:
    if writer is not None:
        with contextlib.suppress(Exception):
            writer.wait_merging_threads()


def _create_index(path: str) -> tantivy.Index:
    index = tantivy.Index(build_schema(), path=path)
    register_analyzers(index)
    return index


def _commit(writer: tantivy.IndexWriter, batch: Batch, state: IndexState, replace_: bool) -> None:
    apply(writer, batch, state, replace=replace_)
    writer.commit()


def _reason_label(reason: str) -> str:
    """A bounded label for the rebuild counter."""
    for label in ("requested", "no index", "unreadable", "format", "database", "weights", "behind"):
        if label in reason:
            return label.replace(" ", "_")
    return "other"
