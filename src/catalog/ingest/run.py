"""One crawl, start to end: read the database (introspect.py), apply it (service.py), commit
chunk by chunk, or roll it all back for a dry run. Shared by `catalog ingest` and
`POST /api/ingestion/runs`, which bring their own sessions and cache."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from catalog.cache.invalidation import take_stale
from catalog.identity.principal import Actor
from catalog.ingest.introspect import introspect
from catalog.ingest.service import Crawler, CrawlReport, Scope

Retire = Callable[[Collection[str]], Awaitable[None]]


@dataclass(frozen=True)
class CrawlRequest:
    url: str  # credentials live here or in the driver's environment (PGPASSWORD); never kept
    team: str
    schemas: tuple[str, ...] = ()
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    dry_run: bool = False

    def options(self) -> dict[str, Any]:
        """What a run record keeps of the request: everything but the URL."""
        return {
            "team": self.team,
            "schemas": list(self.schemas),
            "include": list(self.include),
            "exclude": list(self.exclude),
            "dry_run": self.dry_run,
        }


async def run_crawl(
    request: CrawlRequest,
    sessions: async_sessionmaker[AsyncSession],
    actor: Actor,
    retire: Retire,
) -> CrawlReport:
    """Crawl `request.url` into the catalog; IntrospectionError when it cannot be read."""
    found = await introspect(
        request.url, schemas=request.schemas, include=request.include, exclude=request.exclude
    )
    scope = Scope(found.schemas, request.include, request.exclude)
    async with sessions() as session:

        async def checkpoint() -> None:
            if not request.dry_run:
                await session.commit()
                await retire(take_stale(session))

        report = await Crawler(session, actor).crawl(
            found, scope, request.team, checkpoint, request.dry_run
        )
        if request.dry_run:
            await session.rollback()
    return report
