"""Fixtures for the graph stores: a real FalkorDB server per test process (so per xdist
worker), and per test a server that is up and holds no data, plus a graph name of the test's
own."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis

from tests.support.falkordb_server import FalkorDBServer
from tests.support.servers import MissingServerError


@pytest.fixture(scope="session")
def falkordb_server() -> Iterator[FalkorDBServer]:
    try:
        server = FalkorDBServer.launch()
    except MissingServerError as exc:
        pytest.fail(f"the graph tests need a real FalkorDB server: {exc}", pytrace=False)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def falkordb_url(falkordb_server: FalkorDBServer) -> str:
    """The server's URL, with the server running (a test that stopped it and failed before
    starting it again does not leak its outage) and empty: no graph, no index, no key."""
    falkordb_server.start()
    with redis.Redis.from_url(falkordb_server.url, socket_timeout=10) as client:
        client.flushall()
    return falkordb_server.url


@pytest.fixture
def falkordb_graph() -> str:
    """A graph name no other test uses."""
    return f"catalog_test_{uuid.uuid4().hex}"
