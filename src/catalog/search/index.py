"""A process's view of the index: the current snapshot, kept fresh, and engine calls off the loop.

Every worker process reads the index directory on its own. Before a search it looks (at most
every RELOAD_CHECK_S) whether the live generation changed (a rebuild: CURRENT replaced) or
committed (its meta.json replaced) and reloads if so; every FORCED_RELOAD_S it reloads anyway,
in case two commits fell within one file-time tick. A commit is thereby visible to every
process within about RELOAD_CHECK_S of the writer's commit.

Engine calls release the GIL while Tantivy works, and the ones over the whole match set take
milliseconds, so they run in a thread of their own (`run`): other requests on this worker's
event loop go on meanwhile (measured: /livez p50 0.4 ms beside a search load, against 8 ms
with the engine on the loop).

`pyo3_runtime.PanicException` (a Rust panic inside the engine) derives from BaseException, not
Exception; `run` turns it into `EngineFailure` so the error handler answers with the envelope
instead of the exception escaping the middleware.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import astuple, dataclass
from pathlib import Path
from typing import Any, TypeVar

import orjson
import tantivy
from sqlalchemy import make_url

from catalog.core.logging import get_logger
from catalog.search.directory import IndexDirectory
from catalog.search.fields import FORMAT, register_analyzers
from catalog.search.metrics import QUERY_DURATION
from catalog.search.ranking import Weights
from catalog.settings import Settings

log = get_logger(__name__)
T = TypeVar("T")

RELOAD_CHECK_S = 0.05
FORCED_RELOAD_S = 1.0
# One engine thread per worker: with two, the threads' Python parts (blending, JSON) fight
# over the GIL with each other and the event loop (measured, bench/README.md: 424 vs 526
# searches/s, p99 184 vs 83 ms, at 16 connections on 2 workers).
ENGINE_THREADS = 1


class EngineFailure(RuntimeError):
    """The engine failed inside (a Rust panic or an unreadable index)."""


@dataclass(frozen=True)
class IndexState:
    """What the writer records with every commit (the `meta` document of the index)."""

    format: int
    position: int  # the last change-log id applied
    usage_since: str  # ISO time: usage counters changed since then are not folded in yet
    committed_at: float  # unix time of the commit
    database: str  # which database the index was built from
    weights: tuple[float, ...]  # the ranking weights its `prior` and `boost` were made with

    def to_json(self) -> bytes:
        return orjson.dumps(self.__dict__)

    @staticmethod
    def from_json(raw: bytes) -> IndexState:
        fields = orjson.loads(raw)
        fields["weights"] = tuple(fields.get("weights") or ())
        return IndexState(**fields)


def database_identity(database_url: str) -> str:
    """Which database an index was built from (its URL without the password, hashed)."""
    shown = make_url(database_url).render_as_string(hide_password=True)
    return hashlib.sha256(shown.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Expected:
    """What an index must have been built for to be served and followed by this process."""

    database: str
    weights: tuple[float, ...]

    @classmethod
    def of(cls, settings: Settings) -> Expected:
        return cls(
            database_identity(settings.database_url), astuple(Weights.from_settings(settings))
        )

    def problem(self, state: IndexState | None) -> str | None:
        """Why an index with this state cannot be used (None: it can)."""
        if state is None or state.format != FORMAT:
            return "another index format"
        if state.database != self.database:
            return "built from another database"
        if state.weights != self.weights:
            return "ranking weights changed"
        return None


@dataclass(frozen=True)
class Snapshot:
    """One consistent view: a searcher and the state it was committed with."""

    searcher: tantivy.Searcher
    schema: tantivy.Schema
    generation: str
    state: IndexState

    @property
    def version(self) -> str:
        """Changes whenever what search answers can change (for cache keys)."""
        return f"{self.generation}:{self.state.position}:{self.state.committed_at}"


def count_matches(searcher: tantivy.Searcher, query: tantivy.Query) -> int:
    """How many live documents match (the stub file does not declare `SearchResult.count`)."""
    found: Any = searcher.search(query, 1, count=True)
    return int(found.count or 0)


def read_state(searcher: tantivy.Searcher, schema: tantivy.Schema) -> IndexState | None:
    hits = searcher.search(tantivy.Query.term_query(schema, "kind", "meta"), 1).hits
    if not hits:
        return None
    return IndexState.from_json(searcher.doc(hits[0][1])["doc"][0])


def open_index(path: Path) -> tantivy.Index:
    index = tantivy.Index.open(str(path))
    register_analyzers(index)
    return index


class SearchIndex:
    """The reader side, one per process."""

    def __init__(
        self,
        directory: IndexDirectory,
        expected: Expected | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.directory = directory
        self.expected = expected
        self._clock = clock
        self._index: tantivy.Index | None = None
        self._generation: Path | None = None
        self._snapshot: Snapshot | None = None
        self._signature: tuple[int, ...] | None = None
        self._checked_at = float("-inf")
        self._reloaded_at = float("-inf")
        self._pool = ThreadPoolExecutor(ENGINE_THREADS, thread_name_prefix="search")
        self.problem: str | None = None  # why there is no snapshot, for /healthz
        self._reload_failing = False  # the open generation cannot be reloaded (logged once)

    def snapshot(self) -> Snapshot | None:
        """The freshest snapshot, or None while no complete index exists."""
        now = self._clock()
        if now - self._checked_at >= RELOAD_CHECK_S:
            self._checked_at = now
            self._refresh(force=now - self._reloaded_at >= FORCED_RELOAD_S)
        return self._snapshot

    def refresh_now(self) -> Snapshot | None:
        """Reload at once (the writer in this process just committed)."""
        self._checked_at = self._clock()
        self._refresh(force=True)
        return self._snapshot

    def _refresh(self, *, force: bool) -> None:
        signature = self.directory.signature(self._generation)
        if signature == self._signature and not force and self._snapshot is not None:
            return
        try:
            generation = self.directory.current()
            if generation is None:
                self._drop("no index built yet")
                return
            if generation != self._generation or self._index is None:
                self._index = open_index(generation)
                self._generation = generation
            elif not self._reload_open(generation):
                return
            searcher = self._index.searcher()
            schema = self._index.schema
            state = read_state(searcher, schema)
            problem = self.expected.problem(state) if self.expected else None
            if state is None or problem is not None:
                self._drop(f"{problem or 'no state'}: waiting for the rebuild")
                return
        except Exception as exc:  # corrupt or half-deleted files: the writer rebuilds
            self._drop(f"index unreadable: {type(exc).__name__}")
            log.warning("search_index_unreadable", error=repr(exc)[:300])
            return
        self._signature = self.directory.signature(generation)
        self._reloaded_at = self._clock()
        self._snapshot = Snapshot(searcher, schema, generation.name, state)
        self.problem = None

    def _reload_open(self, generation: Path) -> bool:
        """Reload the generation already open; False when that failed and the last snapshot
        keeps answering. Reloading takes Tantivy's lock file, which a read-only or full disk
        refuses, while the searcher already open still reads its files: searches go on from
        the last commit until the disk is back (the writer reports the fault in /healthz)."""
        assert self._index is not None
        try:
            self._index.reload()
        except Exception as exc:
            if self._snapshot is None or self._snapshot.generation != generation.name:
                raise
            if not self._reload_failing:
                log.warning("search_index_reload_failed", error=repr(exc)[:300])
            self._reload_failing = True
            self._reloaded_at = self._clock()  # tried again at the next forced reload
            return False
        self._reload_failing = False
        return True

    def _drop(self, problem: str) -> None:
        self._snapshot = None
        self._index = None
        self._generation = None
        self._signature = None
        self.problem = problem

    async def run(self, kind: str, work: Callable[..., T], *args: Any) -> T:
        """Run engine work in the pool, a Rust panic reported as EngineFailure; its time in
        the thread is observed as `catalog_search_query_duration_seconds{kind}`."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, _timed, kind, work, args)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._snapshot = None
        self._index = None


def _timed(kind: str, work: Callable[..., T], args: tuple[Any, ...]) -> T:
    started = time.perf_counter()
    try:
        return _guarded(work, args)
    finally:
        QUERY_DURATION.labels(kind).observe(time.perf_counter() - started)


def _guarded(work: Callable[..., T], args: tuple[Any, ...]) -> T:
    try:
        return work(*args)
    except Exception:
        raise
    except BaseException as exc:  # pyo3's PanicException is a BaseException
        if isinstance(exc, KeyboardInterrupt | SystemExit | GeneratorExit):
            raise
        raise EngineFailure(f"search engine failure: {type(exc).__name__}") from exc
