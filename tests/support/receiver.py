"""A real HTTP endpoint that records what is POSTed to it: a stand-in for Alertmanager,
Slack or PagerDuty in delivery tests. It can answer with an error status or be taken down."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.support.http_server import LocalHttpServer


@dataclass(frozen=True)
class Received:
    """One request as it arrived: headers (lower-cased names) and the raw body."""

    headers: dict[str, str]
    raw: bytes


class Receiver:
    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.received: list[Received] = []  # every accepted request, raw
        self.status = 200
        self.attempts = 0
        self._lock = threading.Lock()
        self._server = LocalHttpServer(self._handler())
        self.port = self._server.port
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self._server.start()

    def stop(self) -> None:
        self._server.stop()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                raw = self.rfile.read(length)
                body = json.loads(raw or b"{}")
                with receiver._lock:
                    receiver.attempts += 1
                    if receiver.status < 300:
                        receiver.bodies.append(body)
                        headers = {k.lower(): v for k, v in self.headers.items()}
                        receiver.received.append(Received(headers, raw))
                self.send_response(receiver.status)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *_args: Any) -> None:
                pass

        return Handler
