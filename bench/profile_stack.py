"""Where a request's time goes in the shipped server under load: py-spy samples, by module.

    .venv/bin/python -m bench.profile_stack [--duration 15] [--connections 32] [--rate 200]

`catalog serve` (one worker) runs in its shipped configuration (auth on with a bearer token,
rate limits on far above the load, LOG_LEVEL=info with its lines to /dev/null) while wrk
loads `GET /api/info`; py-spy (a sampling profiler that reads the process from outside, so
the server runs unmodified) records its stacks meanwhile. Each sample is charged to the
innermost frame that is the catalog's own code (a structlog call made by the access
middleware counts for the access middleware), else to the library the stack is in
(uvicorn/h11/httptools, starlette, fastapi, asyncio, ...). Samples of an idle loop (waiting
in epoll) are not recorded (py-spy leaves idle threads out). A bucket's microseconds per
request = its busy samples / sampling rate / requests served while sampling.

py-spy is chosen over pyinstrument because it needs no change to the server and sees the
event loop's own time (parsing, writing, scheduling), which an in-process profiler started
inside a request would not.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.http_throughput import PATH, SERVE, server, wrk
from bench.support import RESULTS, SHIPPED_ENV, migrate, token_file

FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]+?)(?::\d+)?\)$")
# Code that serves: time spent inside it is its own, whoever called it.
OWNERS = ("uvicorn", "h11", "httptools", "starlette", "fastapi", "asyncio", "anyio")
ENTRY = ("catalog/cli", "catalog/__main__")  # the bottom of every stack: charges nothing


def owner_of(frame: str) -> str | None:
    """The catalog module or serving library a frame belongs to; None for helper code
    (structlog, prometheus_client, orjson, the standard library, ...) whose time is its
    caller's."""
    match = FRAME.match(frame)
    path = match.group("file") if match else frame
    if "catalog/" in path:
        module = "catalog/" + path.rsplit("catalog/", 1)[1].removesuffix(".py")
        return None if module in ENTRY else module
    for library in OWNERS:
        if f"{library}/" in path or path.startswith(f"{library}.") or path == f"{library}.py":
            return library
    return None


def bucket_of(stack: str) -> str:
    """The owner of the innermost owned frame of a `;`-joined stack (outermost first)."""
    for frame in reversed(stack.split(";")):
        owner = owner_of(frame)
        if owner is not None:
            return owner
    return "other (interpreter, C code)"


def record(pid: int, seconds: int, rate: int, output: Path) -> None:
    how = [f"--duration={seconds}", f"--rate={rate}", "--format=raw", f"--output={output}"]
    subprocess.run(
        ["py-spy", "record", f"--pid={pid}", *how, "--nonblocking"],
        check=True,
        capture_output=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rate", type=int, default=200, help="py-spy samples per second")
    args = parser.parse_args()
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    os.environ["PATH"] = f"{Path(py_spy).parent}{os.pathsep}{os.environ['PATH']}"
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed (Debian: apt-get install wrk)")

    token, tokens = token_file()
    port = 18301
    with tempfile.TemporaryDirectory() as tmp:
        db = f"sqlite:///{tmp}/bench.db"
        migrate(db)
        env = SHIPPED_ENV | {
            "LOG_LEVEL": "info",
            "CATALOG_DATABASE_URL": db,
            "AUTH_TOKENS_FILE": str(tokens),
            "CATALOG_SEARCH_INDEX_DIR": f"{tmp}/index",
        }
        headers = {"authorization": f"Bearer {token}"}
        with server(SERVE, port, env, headers):
            pid = int(
                subprocess.run(
                    ["pgrep", "-f", f"catalog serve --host 127.0.0.1 --port {port}"],
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout.split()[0]
            )
            wrk(port, 2, args.connections, threads=1, token=token)  # warm-up
            raw = Path(tmp) / "stacks.txt"
            sampled = args.duration - 2
            profiler = threading.Thread(target=record, args=(pid, sampled, args.rate, raw))
            profiler.start()
            run = wrk(port, args.duration, args.connections, threads=1, token=token)
            profiler.join()
            lines = raw.read_text().splitlines()
            if os.environ.get("BENCH_KEEP_STACKS"):
                shutil.copy(raw, os.environ["BENCH_KEEP_STACKS"])

    samples: collections.Counter[str] = collections.Counter()
    for line in lines:
        stack, _, count = line.rpartition(" ")
        if stack:
            samples[bucket_of(stack)] += int(count)
    total = sum(samples.values())
    requests = run["rps"] * sampled
    busy_us = total / args.rate / requests * 1e6
    rows = [
        {
            "bucket": name,
            "share": round(count / total, 4),
            "us_per_request": round(count / args.rate / requests * 1e6, 1),
        }
        for name, count in samples.most_common()
    ]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "profile_stack.json").write_text(
        json.dumps(
            {"date": time.strftime("%Y-%m-%d"), "path": PATH, "wrk": run, "rows": rows}, indent=2
        )
        + "\n"
    )
    print(
        f"{run['rps']:.0f} req/s, p50 {run['p50_ms']} ms, p99 {run['p99_ms']} ms; "
        f"{total} busy samples, {busy_us:.0f} µs of CPU per request"
    )
    print("| where | share of busy samples | µs/request |")
    print("|---|---|---|")
    for row in rows:
        print(f"| {row['bucket']} | {row['share'] * 100:.1f}% | {row['us_per_request']} |")


if __name__ == "__main__":
    main()
