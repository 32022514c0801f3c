"""The application factory and its lifespan.

Request flow (outermost first): request id -> tracing (when configured) -> access (metrics +
log line) -> errors -> conditional (ETag, 304) -> body guard -> protection (load shedding,
timeout) -> rate limit -> auth -> idempotency keys -> router.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
from fastapi import APIRouter, FastAPI, Response
from fastapi.responses import RedirectResponse
from pydantic import BaseModel
from starlette.middleware import Middleware

from catalog import __version__
from catalog.conditional.middleware import ConditionalMiddleware
from catalog.core.clock import Clock
from catalog.core.error_schema import COMMON_ERRORS
from catalog.core.log_output import LINES
from catalog.core.logging import configure_logging, get_logger
from catalog.graph import metrics as graph_metrics  # noqa: F401 - registers the guide's metrics
from catalog.idempotency.middleware import IdempotencyMiddleware
from catalog.observability.error_tracking import setup_error_tracking
from catalog.observability.metrics import AccessMiddleware
from catalog.observability.tracing import setup_tracing, tracing_middleware
from catalog.ratelimit.middleware import RateLimitMiddleware
from catalog.ratelimit.policy import Policy
from catalog.server import openapi, probes, route_index, route_precedence
from catalog.server.auth_middleware import AuthMiddleware
from catalog.server.body_guard import BodyGuardMiddleware
from catalog.server.error_handling import ErrorMiddleware, install_exception_handlers
from catalog.server.protection import ProtectionMiddleware
from catalog.server.request_id import RequestIdMiddleware
from catalog.server.resources import open_resources
from catalog.settings import Settings, UnsafeSettingsError
from catalog.ui.routers import ui_routers

log = get_logger(__name__)

meta_router = APIRouter(tags=["meta"])


def _service_info() -> bytes:
    return orjson.dumps({"service": "catalog", "version": __version__, "api": "v1"})


_SERVICE_INFO = _service_info()


class ServiceInfo(BaseModel):
    service: str
    version: str
    api: str


@meta_router.get(
    "/api/info",
    summary="Service name and version (precomputed, no I/O)",
    responses={200: {"model": ServiceInfo}},
)
async def service_info() -> Response:
    return Response(_SERVICE_INFO, media_type="application/json")


@meta_router.get("/", include_in_schema=False)
async def root() -> RedirectResponse:
    """A newcomer's first click lands on the web UI (the API's docs are at /docs)."""
    return RedirectResponse("/ui/", status_code=307)


_heap_frozen = False


def freeze_startup_heap() -> None:
    """Take what start-up built (modules, routes, models, pools: ~180k objects) out of the
    cyclic garbage collector's reach, once per process.

    A full collection walks every tracked object; with the start-up heap in it, that held the
    event loop ~90 ms on this machine each time one ran under load, and it was the whole p99
    of issue 15's benchmark. `gc.freeze` moves the objects alive now to a permanent generation
    that collections skip (the garbage among them is collected first). Once per process: a
    test session builds many apps, and freezing each would keep their heaps forever.
    """
    global _heap_frozen
    if _heap_frozen:
        return
    _heap_frozen = True
    gc.collect()
    gc.freeze()


def build_middleware(settings: Settings) -> list[Middleware]:
    stack = [
        Middleware(RequestIdMiddleware),
        *tracing_middleware(settings),
        Middleware(AccessMiddleware, trusted_proxies=settings.trusted_proxies),
        Middleware(ErrorMiddleware, retry_after=settings.unavailable_retry_after_s),
        Middleware(ConditionalMiddleware),
        Middleware(
            BodyGuardMiddleware,
            max_body_bytes=settings.max_body_bytes,
            drain_bytes=settings.max_body_drain_bytes,
            drain_s=settings.max_body_drain_s,
        ),
        Middleware(
            ProtectionMiddleware,
            max_in_flight=settings.max_in_flight,
            timeout_s=settings.request_timeout_s,
            retry_after=settings.unavailable_retry_after_s,
        ),
    ]
    if settings.rate_limit_enabled:
        stack.append(
            Middleware(
                RateLimitMiddleware,
                policy=Policy(settings),
                trusted_proxies=settings.trusted_proxies,
            )
        )
    if settings.enable_auth:
        stack.append(Middleware(AuthMiddleware, settings=settings))
    # After auth: keys are scoped by the principal it found.
    stack.append(Middleware(IdempotencyMiddleware, retry_after=settings.unavailable_retry_after_s))
    return stack


def create_app(settings: Settings | None = None, *, clock: Clock | None = None) -> FastAPI:
    """The app; `clock` is the time its parts read (the real one unless a test moves it)."""
    settings = settings or Settings()
    reasons = settings.unsafe_reasons()
    if reasons:
        raise UnsafeSettingsError(reasons[0])
    configure_logging(settings.log_level)
    tracing = setup_tracing(settings)
    error_tracking = setup_error_tracking(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        route_precedence.install(_app)  # routes are final now, test routes included
        route_index.install(_app)
        resources = open_resources(settings, clock)
        resources.start()
        freeze_startup_heap()
        LINES.start()  # log lines go through the writer thread while the app serves
        log.info(
            "startup",
            version=__version__,
            environment=settings.environment,
            database=resources.engine.dialect.name,
            redis=resources.redis is not None,
        )
        try:
            yield {"catalog": resources}
        finally:
            try:
                await resources.close()
                log.info("shutdown")
                if tracing is not None:
                    tracing.shutdown()
                if error_tracking is not None:
                    error_tracking.shutdown()
            finally:
                LINES.stop()  # every line out before the process may be killed

    app = FastAPI(
        title="Catalog",
        version=__version__,
        description="Data catalog: ISO/IEC 11179 registry, data products, discovery, governance.",
        lifespan=lifespan,
        middleware=build_middleware(settings),
        responses=COMMON_ERRORS,
        # TracingMiddleware owns the server span and metrics.py the HTTP metrics; FastAPI's
        # native telemetry would duplicate them (and checks its providers on every request).
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    install_exception_handlers(app)
    app.include_router(probes.router)
    app.include_router(meta_router)
    for router in domain_routers():
        app.include_router(router)
    for router in ui_routers():
        app.include_router(router)
    openapi.install(app)
    return app


def domain_routers() -> list[APIRouter]:
    """Every domain's router; each carries its full path prefix (see core/routes.py)."""
    from catalog.api.access import router as access
    from catalog.api.alerting import router as admin_alerts
    from catalog.api.apikeys import router as api_keys
    from catalog.api.audit import router as audit
    from catalog.api.db_indexes import router as admin_db_indexes
    from catalog.api.discover import router as discover
    from catalog.api.graph import router as graph
    from catalog.api.ingestion import router as ingestion
    from catalog.api.openlineage import router as openlineage
    from catalog.api.products import router as products
    from catalog.api.quality import router as quality
    from catalog.api.registry import router as registry
    from catalog.api.registry_compat import router as registry_compat
    from catalog.api.regulatory import router as regulatory
    from catalog.api.subscriptions import router as subscriptions
    from catalog.api.tags import router as tags
    from catalog.api.usage import router as usage

    return [
        registry,
        quality,
        products,
        tags,
        usage,
        access,
        subscriptions,
        regulatory,
        audit,
        discover,
        graph,
        openlineage,
        ingestion,
        api_keys,
        admin_alerts,
        admin_db_indexes,
        registry_compat,
    ]


def app_from_env() -> FastAPI:
    """Factory for `catalog serve` (granian) and any ASGI server (`uvicorn --factory`)."""
    return create_app(Settings())
