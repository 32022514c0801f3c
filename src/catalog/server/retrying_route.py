"""Retrying a whole request when the database fails transiently (`RetryingRoute`).

The retry wraps the route's entire handler, dependencies included, so each attempt gets a
fresh session and redoes the transaction from its start: retrying one statement inside a
transaction the database has already aborted would be useless. The request's session
dependency has `scope="function"` (it commits before the response is sent); FastAPI closes
that scope outside the route handler, so each attempt here opens and closes its own function
scope, which puts the COMMIT (where PostgreSQL reports some serialization failures) inside
the attempt too.

What is retried (see db/transient.py): "conflict" errors (serialization failure, deadlock,
SQLite busy) for every method, since the database rolled the transaction back; "connection"
errors only when repeating is safe: GET/HEAD/OPTIONS/PUT/DELETE. Not a POST or PATCH, even with
an `Idempotency-Key`: the connection may have died after the COMMIT reached the database. The
client's own retry with its key is safe instead: the key is stamped in the request's
transaction (idempotency/middleware.py), so a retry learns whether the first run took effect
(409 "applied") or runs it (the transaction rolled back). Pool exhaustion is
never retried (it answers 503 at once). Waits follow `catalog.core.retry`: the guide's
defaults (3 retries, 100 ms doubling to 5 s) with full jitter, and a per-process retry budget
so an outage is not multiplied by retries. When a transient failure is not retried, or
retries run out, the answer is 503 with `Retry-After`.

Counted in `catalog_db_retries_total{kind, outcome}`: `retried` per retry; per request that
retried and then succeeded, `succeeded`; per request given up, `exhausted` (no retries left),
`budget_exhausted` (the budget refused) or `unsafe` (a dropped connection on a request that
may not be repeated).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from prometheus_client import Counter
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from catalog.core.errors import ServiceUnavailable
from catalog.core.logging import get_logger
from catalog.core.retry import DEFAULT, RetryBudget, RetryPolicy, full_jitter_wait
from catalog.db.transient import TransientKind, is_transient_db_error

if TYPE_CHECKING:
    from catalog.server.resources import Resources

log = get_logger(__name__)

Handler = Callable[[Request], Coroutine[Any, Any, Response]]
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
FUNCTION_SCOPE_KEY = "fastapi_function_astack"  # where FastAPI keeps scope="function" deps

DB_RETRIES = Counter(
    "catalog_db_retries_total",
    "Requests retried after a transient database error, and how they ended",
    ("kind", "outcome"),
)
DETAILS: dict[str, str] = {
    "conflict": "the database kept refusing the transaction (concurrent changes); try again",
    "connection": "database unavailable",
    "unsafe": (
        "database connection lost; whether the change was applied is unknown: "
        "resend it with the same Idempotency-Key, or read the resource before sending it again"
    ),
}


def may_repeat(request: Request, kind: TransientKind) -> bool:
    """Whether running the request again cannot apply it twice."""
    if kind == "conflict":
        return True  # the database rolled the transaction back: nothing was applied
    return request.method in IDEMPOTENT_METHODS


async def _attempt(handler: Handler, request: Request) -> Response:
    """One run of the handler in its own function scope (session opened, committed, closed)."""
    scope = request.scope
    outer = scope.get(FUNCTION_SCOPE_KEY)
    async with AsyncExitStack() as function_scope:
        scope[FUNCTION_SCOPE_KEY] = function_scope
        try:
            return await handler(request)
        finally:
            scope[FUNCTION_SCOPE_KEY] = outer


async def run_with_db_retries(
    handler: Handler,
    request: Request,
    *,
    budget: RetryBudget,
    retry_after: int,
    policy: RetryPolicy = DEFAULT,
) -> Response:
    budget.record_attempt()
    try:
        return await _attempt(handler, request)  # the common case, without tenacity's ~30 µs
    except Exception as exc:
        if is_transient_db_error(exc) is None:
            raise
        first_failure = [exc]

    async def attempt() -> Response:
        if first_failure:  # tenacity's first attempt is the one that just failed
            raise first_failure.pop()
        return await _attempt(handler, request)

    gave_up: list[str] = []  # why retrying stopped, when it stopped on a retryable failure
    kinds: list[TransientKind] = []

    def retryable(exc: BaseException) -> bool:
        kind = is_transient_db_error(exc)
        return kind is not None and may_repeat(request, kind)

    def stop(state: RetryCallState) -> bool:
        if stop_after_attempt(policy.max_retries + 1)(state):
            gave_up.append("exhausted")
            return True
        if not budget.try_spend():
            gave_up.append("budget_exhausted")
            return True
        return False

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        kind = is_transient_db_error(exc) if exc is not None else None
        if kind is None:
            return
        kinds.append(kind)
        DB_RETRIES.labels(kind, "retried").inc()
        log.warning(
            "db_retry",
            kind=kind,
            attempt=state.attempt_number,
            wait_s=round(state.upcoming_sleep, 3),
            method=request.method,
            path=request.url.path,
            error=repr(exc)[:300],
        )

    retrying = AsyncRetrying(
        stop=stop,
        wait=full_jitter_wait(policy),
        retry=retry_if_exception(retryable),
        before_sleep=before_sleep,
        reraise=True,
    )
    try:
        response: Response = await retrying(attempt)
    except Exception as exc:
        kind = is_transient_db_error(exc)
        if kind is None:
            raise
        outcome = gave_up[-1] if gave_up else "unsafe"
        DB_RETRIES.labels(kind, outcome).inc()
        log.warning(
            "db_retry_gave_up",
            kind=kind,
            outcome=outcome,
            retries=len(kinds),
            method=request.method,
            path=request.url.path,
            error=repr(exc)[:300],
        )
        details = DETAILS["unsafe" if outcome == "unsafe" else kind]
        raise ServiceUnavailable(details, retry_after=retry_after) from exc
    if kinds:
        DB_RETRIES.labels(kinds[-1], "succeeded").inc()
    return response


class RetryingRoute(APIRoute):
    """An APIRoute whose handler is re-run on transient database errors (module docstring).

    Use it per router: `APIRouter(tags=[...], route_class=RetryingRoute)`.
    """

    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()

        async def retrying_handler(request: Request) -> Response:
            resources: Resources | None = getattr(request.state, "catalog", None)
            if resources is None:  # no lifespan state (nothing to retry against)
                return await handler(request)
            return await run_with_db_retries(
                handler,
                request,
                budget=resources.db_retry_budget,
                retry_after=resources.settings.unavailable_retry_after_s,
            )

        return retrying_handler
