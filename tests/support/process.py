"""Run `catalog` as a real process, the way an operator would."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.support.servers import free_port
from tests.support.wait import until_sync


def run_catalog(
    *args: str, env: dict[str, str], inherit: bool = True, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`python -m catalog ARGS`, to completion. `env` goes on top of this process's environment,
    or is the whole environment with `inherit=False` (to leave variables out)."""
    return subprocess.run(
        [sys.executable, "-m", "catalog", *args],
        env={**os.environ, **env} if inherit else env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@contextmanager
def catalog_server(
    env: dict[str, str], *args: str, output: Path | None = None
) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """`catalog serve` on a free port until the block ends. Its log goes to `process.stdout`
    (read it, or a busy server blocks on a full pipe) or, with `output`, to that file.

    A server that exits before answering is started again on another port (twice at most):
    a port found free can be taken by another test process before this server binds it."""
    full_env = {**os.environ, "LOG_LEVEL": "info", **env}
    failures: list[str] = []
    for _attempt in range(3):
        port = free_port()
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "catalog",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                *args,
            ],
            env=full_env,
            stdout=subprocess.PIPE if output is None else output.open("w"),
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # its own process group: its workers go with it (below)
        )
        base = f"http://127.0.0.1:{port}"

        def up_or_exited(process: subprocess.Popen[str] = process, base: str = base) -> bool:
            if process.poll() is not None:
                return True
            with contextlib.suppress(httpx.TransportError):
                httpx.get(f"{base}/livez", timeout=1)
                return True
            return False

        with contextlib.suppress(AssertionError):
            until_sync(up_or_exited, "catalog serve answering /livez", 60, 0.1)
        if process.poll() is None and up_or_exited():
            break
        if process.poll() is None:  # neither up nor gone in time: its log says why
            process.kill()
        process.wait(30)
        kill_group(process)
        log = output.read_text() if output is not None else ""
        if output is None and process.stdout:
            log = process.stdout.read()
        failures.append(f"port {port}, exit code {process.returncode}:\n{log}")
    else:
        raise RuntimeError("catalog serve did not start:\n" + "\n".join(failures))
    try:
        yield process, base
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(30)
        kill_group(process)


def kill_group(process: subprocess.Popen[str]) -> None:
    """SIGKILL whatever is left of the server's process group. granian's workers are forked
    children: when a test kills the main process, or a respawned worker outlives a
    shutdown, they would otherwise run on (and hold database connections) after the test."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
