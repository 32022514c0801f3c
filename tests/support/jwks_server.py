"""A real HTTP server that plays an identity provider's JWKS endpoint, for JWT tests.

It runs `http.server` in a background thread on a free local port. The test swaps what it
serves (`document`, `status`, `body`, `delay_s`) at any time, for key rotation, outages and
slowness, and reads `requests` to see how often the verifier really went to the network.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.support.http_server import LocalHttpServer


class JwksServer:
    def __init__(self) -> None:
        self.document: dict[str, Any] = {"keys": []}
        self.status = 200
        self.body: bytes | None = None  # served instead of `document` when set
        self.delay_s = 0.0  # how long each answer takes
        self.requests = 0
        self._count_lock = threading.Lock()
        self._server = LocalHttpServer(self._handler())
        self.port = self._server.port
        self.url = f"http://127.0.0.1:{self.port}/.well-known/jwks.json"

    def serve(self, *keys: dict[str, Any]) -> None:
        self.document = {"keys": list(keys)}
        self.status, self.body = 200, None

    def start(self) -> JwksServer:
        self._server.start()
        return self

    def stop(self) -> None:
        """Stop answering and close the port: the connection is refused from now on."""
        self._server.stop()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with server._count_lock:
                    server.requests += 1
                time.sleep(server.delay_s)
                body = server.body
                if body is None:
                    body = json.dumps(server.document).encode()
                self.send_response(server.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the test output is not the place for an access log

        return Handler
