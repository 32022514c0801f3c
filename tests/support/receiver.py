"""A real HTTP endpoint that records what is POSTed to it: a stand-in for Alertmanager,
Slack or PagerDuty in delivery tests. It can answer with an error status or be taken down,
answer slowly (`delay_s`) or not until released (`hold`), so that sends are in flight."""

from __future__ import annotations

import contextlib
import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.support.http_server import LocalHttpServer


@dataclass(frozen=True)
class Received:
    """One request as it arrived: headers (lower-cased names), the raw body, its path, and
    the receiver's `phase` when it arrived (a test's marker, e.g. before or after a kill)."""

    headers: dict[str, str]
    raw: bytes
    path: str = ""
    phase: str = ""


class Receiver:
    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.received: list[Received] = []  # every accepted request, raw, as it arrived
        self.answered: list[Received] = []  # those of them answered (the answer written)
        self.status = 200
        self.attempts = 0
        self.delay_s = 0.0  # each answer waits this long after the request has arrived...
        self.phase = ""  # stamped on each Received: a test sets it to tell stages apart
        self.in_flight = 0  # requests arrived (and recorded) and not let through to answer
        self._lock = threading.Lock()
        self._gate = threading.Condition(self._lock)
        self._open = True  # ... and then, after hold(), for release()
        self._server = LocalHttpServer(self._handler())
        self.port = self._server.port
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self._server.start()

    def hold(self) -> None:
        """Keep every answer not let through yet (requests are still recorded on arrival)
        until release(): once this returns, the `in_flight` requests stay unanswered."""
        with self._gate:
            self._open = False

    def release(self) -> None:
        with self._gate:
            self._open = True
            self._gate.notify_all()

    def stop(self) -> None:
        self.release()
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
                    status = receiver.status
                    headers = {k.lower(): v for k, v in self.headers.items()}
                    received = Received(headers, raw, self.path, receiver.phase)
                    if status < 300:
                        receiver.bodies.append(body)
                        receiver.received.append(received)
                    receiver.in_flight += 1
                if receiver.delay_s:
                    threading.Event().wait(receiver.delay_s)  # a slow receiver
                with receiver._gate:  # let through under the lock hold() takes
                    receiver._gate.wait_for(lambda: receiver._open)
                    receiver.in_flight -= 1
                # The sender may be gone (killed mid-send): its answer goes nowhere.
                with contextlib.suppress(OSError):
                    self.send_response(status)
                    self.send_header("content-length", "2")
                    self.end_headers()
                    self.wfile.write(b"{}")
                    if status < 300:
                        with receiver._lock:
                            receiver.answered.append(received)

            def log_message(self, *_args: Any) -> None:
                pass

        return Handler
