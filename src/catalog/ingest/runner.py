"""`POST /api/ingestion/runs`: crawls run in the background of the worker that took them,
their state and report in `ingestion_runs` (queued -> running -> succeeded | failed).

The URL (credentials and all) lives only in the task's memory: the run keeps the source as
kit/dataset_refs spells it, and the options. A run whose worker stops before it ends stays
`running`; start it again (a crawl is idempotent, so a second run finishes the first's work).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from catalog.core.clock import Clock
from catalog.core.logging import get_logger
from catalog.core.tasks import stop_task
from catalog.db.models import IngestionRun
from catalog.identity.principal import Actor
from catalog.ingest.introspect import IntrospectionError
from catalog.ingest.repository import IngestionRunRepository
from catalog.ingest.run import CrawlRequest, Retire, run_crawl
from catalog.kit.dataset_refs import source_of_url

log = get_logger(__name__)


class IngestionRunner:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        retire: Retire,
        clock: Clock,
        committed: Callable[[], None] = lambda: None,
    ) -> None:
        self.sessions = sessions
        self.retire = retire
        self.clock = clock
        self.committed = committed
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, request: CrawlRequest, actor: Actor) -> IngestionRun:
        """Record the run (queued) and start it; the record as stored."""
        async with self.sessions() as session:
            run = IngestionRun(
                source=source_of_url(request.url),
                status="queued",
                options=request.options(),
                created_by=actor.subject,
                created_at=self.clock.now(),
            )
            await IngestionRunRepository(session).add(run)
            await session.commit()
        task = asyncio.create_task(self._run(run.id, request, actor), name=f"ingestion-{run.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return run

    async def _run(self, run_id: str, request: CrawlRequest, actor: Actor) -> None:
        await self._mark(run_id, status="running", started_at=self.clock.now())
        try:
            report = await run_crawl(request, self.sessions, actor, self._retire)
        except IntrospectionError as error:  # its text never holds the password
            await self._mark(
                run_id, status="failed", error=str(error), finished_at=self.clock.now()
            )
            return
        except Exception as error:
            log.exception("ingestion_run_failed", run_id=run_id)
            await self._mark(
                run_id,
                status="failed",
                error=f"{type(error).__name__}: see the log of run {run_id}",
                finished_at=self.clock.now(),
            )
            return
        await self._mark(
            run_id, status="succeeded", report=report.as_dict(), finished_at=self.clock.now()
        )

    async def _retire(self, scopes: Collection[str]) -> None:
        """After each committed chunk: retire cached answers, wake the projections."""
        await self.retire(scopes)
        self.committed()

    async def _mark(self, run_id: str, **values: object) -> None:
        async with self.sessions() as session:
            run = await IngestionRunRepository(session).get(run_id)
            if run is not None:
                for name, value in values.items():
                    setattr(run, name, value)
                await session.commit()

    async def stop(self) -> None:
        for task in list(self._tasks):
            await stop_task(task)
