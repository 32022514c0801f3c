"""A narrow seam for a failing COMMIT: one app's request sessions, nothing else.

The request's session comes from `Resources.write_sessions` (deps.get_session); the
background writers (search index, idempotency store, alerts, history) were handed the factory
when the app started and keep it. Swapping the app's factory for one whose sessions fail
their commit therefore reaches the requests of that app only, never SQLAlchemy's class.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from catalog.server.resources import Resources


@contextmanager
def failing_request_commits(
    resources: Resources, *errors: BaseException
) -> Iterator[list[BaseException]]:
    """The next request commits raise `errors`, in order; yields what is still to raise."""
    pending = list(errors)

    class FailingCommitSession(AsyncSession):
        async def commit(self) -> None:
            if pending:
                raise pending.pop(0)
            await super().commit()

    real = resources.write_sessions
    resources.write_sessions = async_sessionmaker(class_=FailingCommitSession, **real.kw)
    try:
        yield pending
    finally:
        resources.write_sessions = real
