"""Where idempotency keys live: one row per (principal, key) in the database.

The database, not a process, holds the keys so they survive restarts and every replica sees
the same ones. Each step is its own short write transaction, apart from the request's:

- `claim` inserts a `processing` row (INSERT ... ON CONFLICT DO NOTHING, so of two concurrent
  first attempts exactly one wins) or reports what the existing row says: the stored answer, a
  different request under the same key, or an attempt still running. An expired row, or a
  `processing` row older than the lock timeout (its attempt died with its process), is
  replaced by a fresh attempt with a new id.
- `mark_committed` runs inside the request's own transaction (deps.get_session) and stamps
  `committed_at`, so the row says whether the request's writes committed.
- `complete` stores the answer on the attempt's own row (by id, so an attempt that was taken
  over cannot overwrite its successor); `release` deletes it so the key can be used again,
  unless the request committed: a committed request is never run twice, even when its answer
  was lost (a dropped connection during COMMIT, a failure storing the answer). Such a key
  answers `Applied` once its attempt is past the lock timeout.
- A background task deletes expired rows in bounded batches.

The statements themselves are in repository.py; this module decides what a row means.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from catalog.core.clock import Clock, SystemClock
from catalog.core.ids import new_id
from catalog.core.logging import get_logger
from catalog.core.tasks import stop_task
from catalog.idempotency.repository import IdempotencyRepository

log = get_logger(__name__)

PRUNE_BATCH = 1000
MAX_PRUNE_INTERVAL_S = 3600.0
CLAIM_ATTEMPTS = 3


@dataclass(frozen=True)
class KeyedRequest:
    """What identifies a keyed request and what a retry must repeat exactly."""

    scope: str
    key: str
    method: str
    path: str
    fingerprint: str


@dataclass(frozen=True)
class Claimed:
    """This attempt owns the key: run the request, then `complete` or `release`."""

    attempt_id: str
    took_over: bool = False


@dataclass(frozen=True)
class Replay:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Mismatch:
    """The key was first used for another request (other body, method or path)."""

    method: str
    path: str


@dataclass(frozen=True)
class InProgress:
    """The first attempt with this key is still running."""


@dataclass(frozen=True)
class Applied:
    """The first attempt committed its writes, but its answer was never stored."""


Outcome = Claimed | Replay | Mismatch | InProgress | Applied


class IdempotencyStore:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        ttl_s: float,
        lock_timeout_s: float,
        clock: Clock | None = None,
    ) -> None:
        self.sessions = sessions
        self.now = (clock or SystemClock()).now
        self.ttl = timedelta(seconds=ttl_s)
        self.lock_timeout = timedelta(seconds=lock_timeout_s)
        self.prune_interval_s = min(float(ttl_s), MAX_PRUNE_INTERVAL_S)
        self._task: asyncio.Task[None] | None = None

    async def claim(self, request: KeyedRequest) -> Outcome:
        for _ in range(CLAIM_ATTEMPTS):
            async with self.sessions() as session, session.begin():
                outcome = await self._claim_once(IdempotencyRepository(session, self.now), request)
            if outcome is not None:
                return outcome
        # Lost every race for the key to other attempts: one of them is running now.
        return InProgress()

    async def _claim_once(
        self, repository: IdempotencyRepository, request: KeyedRequest
    ) -> Outcome | None:
        """The outcome, or None when another attempt changed the row under us (look again)."""
        attempt_id = new_id()
        if await self._insert(repository, attempt_id, request):
            return Claimed(attempt_id)
        row = await repository.find(request.scope, request.key)
        if row is None:
            return None  # released or pruned between the two statements
        now = repository.now()
        if row.expires_at > now:
            if (row.method, row.path, row.fingerprint) != (
                request.method,
                request.path,
                request.fingerprint,
            ):
                return Mismatch(row.method, row.path)
            if row.state == "completed":
                return Replay(
                    row.response_status or 200,
                    dict(row.response_headers or {}),
                    bytes(row.response_body or b""),
                )
            if row.created_at > now - self.lock_timeout:
                return InProgress()
            if row.committed_at is not None:
                return Applied()  # its writes are in: running it again would repeat them
        # Expired, or a `processing` attempt that outlived the lock timeout: start afresh.
        # Deleting by id makes one of several concurrent takers win; the others look again.
        if not await repository.delete_attempt(row.id):
            return None
        if not await self._insert(repository, attempt_id, request):
            return None
        return Claimed(attempt_id, took_over=row.state == "processing" and row.expires_at > now)

    async def _insert(
        self, repository: IdempotencyRepository, attempt_id: str, request: KeyedRequest
    ) -> bool:
        """Claim the key with a `processing` row unless it exists; whether it was claimed."""
        return await repository.insert_processing(
            attempt_id,
            self.ttl,
            scope=request.scope,
            key=request.key,
            method=request.method,
            path=request.path,
            fingerprint=request.fingerprint,
        )

    async def complete(
        self, attempt_id: str, status: int, headers: dict[str, str], body: bytes
    ) -> bool:
        """Store the answer; False if the attempt no longer owns its row (taken over)."""
        async with self.sessions() as session, session.begin():
            return await IdempotencyRepository(session, self.now).complete(
                attempt_id, status, headers, body, self.ttl
            )

    async def release(self, attempt_id: str) -> bool:
        """Free the key unless the attempt's transaction committed; whether it was freed."""
        async with self.sessions() as session, session.begin():
            return await IdempotencyRepository(session, self.now).delete_attempt(
                attempt_id, uncommitted_only=True
            )

    async def prune(self) -> int:
        """Delete every expired key, a bounded batch per transaction; how many were deleted."""
        total = 0
        while True:
            async with self.sessions() as session, session.begin():
                deleted = await IdempotencyRepository(session, self.now).delete_expired(PRUNE_BATCH)
            total += deleted
            if deleted < PRUNE_BATCH:
                return total

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._prune_periodically(), name="idempotency-prune")

    async def stop(self) -> None:
        await stop_task(self._task)
        self._task = None

    async def _prune_periodically(self) -> None:
        while True:
            await asyncio.sleep(self.prune_interval_s)
            try:
                deleted = await self.prune()
            except Exception as exc:  # the database is down: try again next round
                log.warning("idempotency_prune_failed", error=repr(exc)[:500])
                continue
            if deleted:
                log.info("idempotency_keys_pruned", deleted=deleted)


async def mark_committed(session: AsyncSession, attempt_id: str) -> None:
    """In the request's own transaction, just before its COMMIT (deps.get_session)."""
    await IdempotencyRepository(session).mark_committed(attempt_id)
