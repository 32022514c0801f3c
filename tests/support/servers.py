"""Find or start the real PostgreSQL and Redis the suite talks to.

Order of preference, per API.md: the servers named by CATALOG_TEST_DATABASE_URL and
CATALOG_TEST_REDIS_URL; else throwaway ones started from the binaries on this machine; else
the run fails and says what to install. Nothing is ever skipped silently.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.wait import until_sync

INSTALL_HINT = (
    "Set CATALOG_TEST_DATABASE_URL / CATALOG_TEST_REDIS_URL to running servers, or install "
    "PostgreSQL (Debian: postgresql, providing initdb and pg_ctl) and Redis "
    "(Debian: redis-server) so the suite can start throwaway ones."
)


class MissingServerError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float = 20.0) -> None:
    def answers() -> bool:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return True
        return False

    try:
        until_sync(answers, f"something answering on port {port}", timeout, 0.1)
    except AssertionError as exc:
        raise MissingServerError(str(exc)) from None


def _postgres_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True)
    return str(candidates[0]) if candidates else None


@dataclass
class Servers:
    database_url: str
    redis_url: str
    _cleanup: list[subprocess.Popen[bytes] | Path | tuple[str, ...]] = field(default_factory=list)

    def stop(self) -> None:
        for item in reversed(self._cleanup):
            if isinstance(item, subprocess.Popen):
                item.terminate()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    item.wait(10)
            elif isinstance(item, tuple):
                subprocess.run(item, check=False, capture_output=True)
            else:
                shutil.rmtree(item, ignore_errors=True)


def _as_postgres_user(argv: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root; the Debian package leaves a `postgres` user.
    if os.geteuid() == 0 and shutil.which("runuser"):
        return ["runuser", "-u", "postgres", "--", *argv]
    return argv


def start_postgres(servers: Servers, *, settings: tuple[str, ...] = ()) -> str:
    """A throwaway server; `settings` are extra `name=value` server settings (-c)."""
    initdb, pg_ctl = _postgres_bin("initdb"), _postgres_bin("pg_ctl")
    if not (initdb and pg_ctl):
        raise MissingServerError("no PostgreSQL binaries (initdb, pg_ctl). " + INSTALL_HINT)
    data = Path(tempfile.mkdtemp(prefix="catalog-pg-"))
    servers._cleanup.append(data)
    if os.geteuid() == 0:
        shutil.chown(data, "postgres")
    port = free_port()
    subprocess.run(
        _as_postgres_user([initdb, "-D", str(data), "-U", "catalog", "--auth=trust", "-E", "UTF8"]),
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off"
    options += "".join(f" -c {setting}" for setting in settings)
    # -l: the postmaster must not inherit our pipes, or waiting for its output never ends.
    log = data / "server.log"
    subprocess.run(
        _as_postgres_user([pg_ctl, "-D", str(data), "-o", options, "-l", str(log), "-w", "start"]),
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=60,
    )
    servers._cleanup.append(
        tuple(_as_postgres_user([pg_ctl, "-D", str(data), "-m", "immediate", "stop"]))
    )
    return f"postgresql://catalog@127.0.0.1:{port}/postgres"


def start_redis(servers: Servers) -> str:
    binary = shutil.which("redis-server")
    if not binary:
        raise MissingServerError("no redis-server binary. " + INSTALL_HINT)
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    servers._cleanup.append(process)
    wait_for_port(port)
    return f"redis://127.0.0.1:{port}/0"


def check_reachable(url: str, default_port: int) -> None:
    from sqlalchemy import make_url

    parsed = make_url(url)
    host, port = parsed.host or "127.0.0.1", parsed.port or default_port
    try:
        socket.create_connection((host, port), 3).close()
    except OSError as exc:
        raise MissingServerError(
            f"{parsed.drivername} at {host}:{port} is not answering ({exc}). " + INSTALL_HINT
        ) from None


def resolve_servers() -> Servers:
    servers = Servers(
        database_url=os.environ.get("CATALOG_TEST_DATABASE_URL", ""),
        redis_url=os.environ.get("CATALOG_TEST_REDIS_URL", ""),
    )
    try:
        if not servers.database_url:
            servers.database_url = start_postgres(servers)
        if not servers.redis_url:
            servers.redis_url = start_redis(servers)
        check_reachable(servers.database_url, 5432)
        check_reachable(servers.redis_url, 6379)
    except Exception:
        servers.stop()
        raise
    return servers
