"""A real HTTP server that plays an identity provider's JWKS endpoint, for JWT tests.

It runs `http.server` in a background thread on a free local port. The test swaps what it
serves (`document`, `status`, `body`, `delay_s`) at any time, for key rotation, outages and
slowness, and reads `requests` to see how often the verifier really went to the network.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class JwksServer:
    def __init__(self) -> None:
        self.document: dict[str, Any] = {"keys": []}
        self.status = 200
        self.body: bytes | None = None  # served instead of `document` when set
        self.delay_s = 0.0  # how long each answer takes
        self.requests = 0
        self._count_lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self.port = int(self._httpd.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}/.well-known/jwks.json"
        self._thread: threading.Thread | None = None

    def serve(self, *keys: dict[str, Any]) -> None:
        self.document = {"keys": list(keys)}
        self.status, self.body = 200, None

    def start(self) -> JwksServer:
        # A short poll interval: shutdown() waits for the loop to notice it.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop answering and close the port: the connection is refused from now on."""
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(5)
            self._thread = None
        self._httpd.server_close()

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
