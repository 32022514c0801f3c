"""Throughput of `GET /api/info` through the full middleware stack vs a bare app, under wrk.

    .venv/bin/python bench/http_throughput.py [--duration 10] [--connections 32] [--rounds 3]

Each variant runs in its own single-worker uvicorn process; wrk runs the rounds alternately
(A, B, A, B, ...) so drift on a shared machine hits all; the table shows the median req/s of
each variant and its ratio to the last variant named. Needs wrk (`apt-get install wrk`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PATH = "/api/info"


# name -> (app factory, extra environment). "full stack" has rate limiting off: the limiter
# has its own variants so its cost can be read off the ratio.
VARIANTS: dict[str, tuple[str, dict[str, str]]] = {
    "no middleware": ("bench.apps:bare_app", {}),
    "full stack": ("bench.apps:full_app", {}),
    "full stack without metrics": ("bench.apps:no_metrics_app", {}),
    "full stack + rate limit (local)": (
        "bench.apps:full_app",
        {
            "RATE_LIMIT_ENABLED": "true",
            "RATE_LIMIT_GLOBAL_RPS": "1e9",
            "RATE_LIMIT_GLOBAL_BURST": "1000000000",
            "RATE_LIMIT_PER_IP_RPS": "1e9",
            "RATE_LIMIT_BURST": "1000000000",
        },
    ),
    "full stack + rate limit (redis)": (
        "bench.apps:full_app",
        {
            "RATE_LIMIT_ENABLED": "true",
            "RATE_LIMIT_GLOBAL_RPS": "1e9",
            "RATE_LIMIT_GLOBAL_BURST": "1000000000",
            "RATE_LIMIT_PER_IP_RPS": "1e9",
            "RATE_LIMIT_BURST": "1000000000",
            "REDIS_URL": "redis://127.0.0.1:6379/14",
        },
    ),
}


@contextmanager
def server(factory: str, port: int, env: dict[str, str], ready_path: str = PATH) -> Iterator[None]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            factory,
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}{ready_path}", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{factory} did not start")
            time.sleep(0.2)
        yield
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)


def wrk(port: int, duration: int, connections: int, path: str = PATH) -> float:
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", f"http://127.0.0.1:{port}{path}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    if "Non-2xx" in out:
        raise RuntimeError(f"non-2xx answers during the run:\n{out}")
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not match:
        raise RuntimeError(out)
    return float(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--variants", nargs="+", default=["full stack", "no middleware"], choices=list(VARIANTS)
    )
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed (Debian: apt-get install wrk)")

    with tempfile.TemporaryDirectory() as tmp:
        db = f"sqlite:///{tmp}/bench.db"
        env = {"CATALOG_DATABASE_URL": db, "LOG_LEVEL": "warning", "RATE_LIMIT_ENABLED": "false"}
        subprocess.run(
            [sys.executable, "-m", "catalog", "migrate"],
            env={**os.environ, **env},
            check=True,
            capture_output=True,
        )
        samples: dict[str, list[float]] = {name: [] for name in args.variants}
        ports = {name: 18101 + i for i, name in enumerate(args.variants)}
        with contextlib.ExitStack() as stack:
            for name in args.variants:
                factory, extra = VARIANTS[name]
                stack.enter_context(server(factory, ports[name], env | extra))
            for name in args.variants:
                wrk(ports[name], 2, args.connections)  # warm-up
            for _ in range(args.rounds):
                for name in args.variants:
                    samples[name].append(wrk(ports[name], args.duration, args.connections))

    medians = {name: statistics.median(values) for name, values in samples.items()}
    baseline = medians[args.variants[-1]]
    result = {
        "date": time.strftime("%Y-%m-%d"),
        "path": PATH,
        "samples": samples,
        "median_rps": medians,
        "baseline": args.variants[-1],
        "ratios": {name: round(m / baseline, 3) for name, m in medians.items()},
        "duration_s": args.duration,
        "connections": args.connections,
    }
    RESULTS.mkdir(exist_ok=True)
    slug = re.sub(r"[^a-z0-9]+", "-", "-vs-".join(args.variants).lower()).strip("-")
    (RESULTS / f"http_throughput_{slug}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"| variant | median req/s | ratio to {args.variants[-1]} | samples |")
    print("|---|---|---|---|")
    for name, values in samples.items():
        print(
            f"| {name} | {medians[name]:.0f} | {medians[name] / baseline:.3f} | "
            f"{', '.join(f'{v:.0f}' for v in values)} |"
        )


if __name__ == "__main__":
    main()
