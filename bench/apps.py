"""App variants the HTTP benchmarks compare, each importable by uvicorn as a factory."""

from __future__ import annotations

import os

from fastapi import FastAPI, Response

from catalog.app import app_from_env, meta_router
from catalog.server import probes
from catalog.server.error_handling import install_exception_handlers


def full_app() -> FastAPI:
    """The service exactly as `catalog serve` builds it from the environment."""
    return app_from_env()


def bare_app() -> FastAPI:
    """The same routes and exception handlers, with no middleware at all."""
    app = FastAPI()
    install_exception_handlers(app)
    app.include_router(probes.router)
    app.include_router(meta_router)
    return app


def no_middleware_app() -> FastAPI:
    """The service as `catalog serve` builds it (every route, the lifespan, the caches) with
    no middleware: on a real endpoint, the difference to the shipped app is the stack's cost."""
    app = app_from_env()
    app.user_middleware = []
    return app


def no_metrics_app() -> FastAPI:
    """The service as `catalog serve` builds it, without the metrics/access-log middleware:
    the difference to `full_app` is what observing each request costs."""
    from catalog.observability.metrics import AccessMiddleware

    app = app_from_env()
    app.user_middleware = [m for m in app.user_middleware if m.cls is not AccessMiddleware]  # type: ignore[comparison-overlap]
    return app


def plain_fastapi_app() -> FastAPI:
    """What an operator would pick instead: a bare FastAPI app with no catalog code at all,
    answering `GET /api/info` with the very bytes the catalog answers (BENCH_INFO_BODY)."""
    body = os.environ["BENCH_INFO_BODY"].encode()
    app = FastAPI()

    @app.get("/api/info")
    async def info() -> Response:
        return Response(body, media_type="application/json")

    return app
