"""A 413 every client can read: oversize bodies are drained (within bounds) before the answer.

Against a real `catalog serve` (uvicorn): what matters is what the kernel does with bytes the
server never read when it closes the socket (it sends a reset, and the client loses the 413),
which an in-process transport cannot show. Every socket here has a timeout: a hang fails.
"""

from __future__ import annotations

import json
import shutil
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.process import catalog_server

MIB = 1024 * 1024
DEADLINE_S = 20.0
HEAD = (
    "POST /api/data-products HTTP/1.1\r\nHost: catalog.test\r\n"
    "Content-Type: application/json\r\n{extra}\r\n"
)


def _server(tmp: Path, sqlite_template: Path, **env: str) -> Iterator[str]:
    shutil.copyfile(sqlite_template, tmp / "catalog.db")
    with catalog_server(
        {
            "CATALOG_DATABASE_URL": f"sqlite:///{tmp / 'catalog.db'}",
            "CATALOG_SEARCH_INDEX_DIR": str(tmp / "search"),
            "RATE_LIMIT_ENABLED": "false",
            **env,
        }
    ) as (_, base):
        yield base


@pytest.fixture(scope="module")
def default_server(
    tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path
) -> Iterator[str]:
    """Default limits: 5 MiB bodies, oversize ones drained up to 32 MiB for 5 s."""
    yield from _server(tmp_path_factory.mktemp("drain-default"), sqlite_template)


@pytest.fixture(scope="module")
def tight_server(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[str]:
    yield from _server(
        tmp_path_factory.mktemp("drain-tight"),
        sqlite_template,
        CATALOG_MAX_BODY_BYTES=str(MIB),
        CATALOG_MAX_BODY_DRAIN_BYTES=str(4 * MIB),
        CATALOG_MAX_BODY_DRAIN_S="0.5",
    )


def _connect(base: str) -> socket.socket:
    host, port = base.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=DEADLINE_S)


def _read_answer(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Read until the server closes: the status, headers and body of its one answer."""
    raw = b""
    while chunk := sock.recv(65536):
        raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines)}
    return int(status_line.split()[1]), headers, body


def _assert_413(status: int, headers: dict[str, str], body: bytes) -> None:
    assert status == 413
    assert headers["connection"] == "close"
    error = json.loads(body)["error"]
    assert error["code"] == 413
    assert error["message"] == "Request Entity Too Large"
    assert error["request_id"] == headers["x-request-id"]


def test_urllib_sending_12_mb_reads_the_413(default_server: str) -> None:
    # urllib writes the whole body before reading anything, and says `Connection: close`.
    # (S310: the URL is our own http:// server.)
    request = urllib.request.Request(  # noqa: S310
        f"{default_server}/api/data-products",
        data=b'{"name": "' + b"x" * 12_000_000 + b'"}',
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request, timeout=DEADLINE_S)  # noqa: S310
    answer = raised.value
    _assert_413(answer.code, {k.lower(): v for k, v in answer.headers.items()}, answer.read())


def test_a_chunked_upload_written_whole_reads_the_413(default_server: str) -> None:
    # No Content-Length: the limit is found while streaming, inside the route's body reader.
    chunk = b"x" * MIB
    framed = b"%x\r\n%s\r\n" % (len(chunk), chunk)
    with _connect(default_server) as sock:
        sock.sendall(HEAD.format(extra="Transfer-Encoding: chunked\r\n").encode())
        sock.sendall(b'2\r\n["\r\n' + framed * 12 + b'2\r\n"]\r\n0\r\n\r\n')
        _assert_413(*_read_answer(sock))


def test_expect_100_continue_gets_the_413_without_sending_the_body(default_server: str) -> None:
    with _connect(default_server) as sock:
        sock.sendall(
            HEAD.format(extra="Content-Length: 12000000\r\nExpect: 100-continue\r\n").encode()
        )
        status, headers, body = _read_answer(sock)  # nothing drained: nothing was sent
    assert b"100 Continue" not in body
    _assert_413(status, headers, body)


def test_beyond_the_drain_bytes_the_connection_closes_at_once(tight_server: str) -> None:
    started = time.monotonic()
    closed = False
    with _connect(tight_server) as sock:
        sock.sendall(HEAD.format(extra="Content-Length: 67108864\r\n").encode())
        try:
            for _ in range(64):  # 64 MiB: far more than socket buffers hold
                sock.sendall(b"x" * MIB)
        except (BrokenPipeError, ConnectionResetError):
            closed = True
        if not closed:
            with pytest.raises(ConnectionResetError):
                _read_answer(sock)
    assert closed, "the server read a body it was not to drain"
    assert time.monotonic() - started < DEADLINE_S


def test_a_body_slower_than_the_drain_time_is_answered_then_closed(tight_server: str) -> None:
    with _connect(tight_server) as sock:
        sock.sendall(HEAD.format(extra=f"Content-Length: {3 * MIB}\r\n").encode())
        sock.sendall(b"x" * (2 * MIB))  # then nothing more, the connection left open
        started = time.monotonic()
        answer = _read_answer(sock)
    waited = time.monotonic() - started
    _assert_413(*answer)
    assert waited < 5, f"answered after {waited:.1f} s; CATALOG_MAX_BODY_DRAIN_S is 0.5"
