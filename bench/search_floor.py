"""The floor of bench/search_latency.py: the same engine over the same index, with no service.

    BENCH_SEARCH_INDEX_DIR=/tmp/... granian --interface asgi --factory bench.search_floor:app

A bare Starlette app answers `/api/discover/search` and `/api/discover/suggest` by calling the
catalog's engine functions (`catalog.search.engine.search` / `suggest`) on a snapshot of the
catalog's `SearchIndex`, off the event loop in its one engine thread, exactly as the service
does, and returns the service's JSON of their answers (`search_answer`). Nothing else runs: no
middleware, no authentication, no rate limits, no access log, no metrics, no search history,
no parameter validation. Served by granian with as many workers as the service, under the same
wrk mix, it shows how fast search can be on this machine whatever the HTTP stack does: what is
left above it in the shipped rows is the service's own request path.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from catalog.discover.service import search_answer
from catalog.search import engine
from catalog.search.directory import IndexDirectory
from catalog.search.index import SearchIndex, Snapshot
from catalog.search.query import Filters, Visibility, parse
from catalog.search.ranking import Weights
from catalog.settings import Settings

VISIBILITY = Visibility(see_all=True)  # the benchmark's token is an admin's


def app() -> Starlette:
    index = SearchIndex(IndexDirectory(Path(os.environ["BENCH_SEARCH_INDEX_DIR"])))
    weights = Weights.from_settings(Settings())

    def snapshot() -> Snapshot:
        found = index.snapshot()
        if found is None:
            raise RuntimeError(f"no index: {index.problem}")
        return found

    async def search(request: Request) -> Response:
        params = request.query_params
        filters = Filters(
            team=params.get("team"),
            category=params.get("category"),
            status=params.get("status"),
            tag=params.get("tag"),
        )
        query = parse(params.get("q"))
        sort_by = params.get("sort_by", "relevance")
        wanted = engine.SearchRequest(
            query, filters, VISIBILITY, sort_by, 20, 0, params.get("explain") == "true"
        )
        found = await index.run("search", engine.search, snapshot(), wanted, weights, time.time())
        body = orjson.dumps(search_answer(found, query, sort_by, 20, 0))
        return Response(body, media_type="application/json")

    async def suggest(request: Request) -> Response:
        typed = request.query_params["q"]
        found = await index.run("suggest", engine.suggest, snapshot(), typed, 10, VISIBILITY)
        return Response(
            orjson.dumps({"query": typed, "suggestions": found}), media_type="application/json"
        )

    async def ready(_request: Request) -> Response:
        return Response(status_code=200 if index.snapshot() is not None else 503)

    return Starlette(
        routes=[
            Route("/api/discover/search", search),
            Route("/api/discover/suggest", suggest),
            Route("/readyz", ready),
        ]
    )
