"""Throughput of `GET /api/info` through the full middleware stack vs a bare app, under wrk.

    .venv/bin/python bench/http_throughput.py [--duration 10] [--connections 32] [--rounds 3]

Each variant runs in its own single-worker uvicorn process; wrk runs the rounds alternately
(A, B, A, B, ...) so drift on a shared machine hits both; the table shows the median req/s of
each variant and the ratio of medians. Needs wrk (Debian: `apt-get install wrk`).
"""

from __future__ import annotations

import argparse
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


@contextmanager
def server(factory: str, port: int, env: dict[str, str]) -> Iterator[None]:
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
                if httpx.get(f"http://127.0.0.1:{port}{PATH}", timeout=1).status_code == 200:
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


def wrk(port: int, duration: int, connections: int) -> float:
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", f"http://127.0.0.1:{port}{PATH}"],
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
        variants = {
            "full stack": ("bench.apps:full_app", 18101),
            "no middleware": ("bench.apps:bare_app", 18102),
        }
        samples: dict[str, list[float]] = {name: [] for name in variants}
        with server(*variants["full stack"], env), server(*variants["no middleware"], env):
            for port in (p for _, p in variants.values()):
                wrk(port, 2, args.connections)  # warm-up
            for _ in range(args.rounds):
                for name, (_, port) in variants.items():
                    samples[name].append(wrk(port, args.duration, args.connections))

    medians = {name: statistics.median(values) for name, values in samples.items()}
    ratio = medians["full stack"] / medians["no middleware"]
    result = {
        "date": time.strftime("%Y-%m-%d"),
        "path": PATH,
        "samples": samples,
        "median_rps": medians,
        "ratio_full_over_bare": round(ratio, 3),
        "duration_s": args.duration,
        "connections": args.connections,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "http_throughput.json").write_text(json.dumps(result, indent=2) + "\n")
    print("| variant | median req/s | samples |")
    print("|---|---|---|")
    for name, values in samples.items():
        print(f"| {name} | {medians[name]:.0f} | {', '.join(f'{v:.0f}' for v in values)} |")
    print(f"\nratio full/bare: {ratio:.3f}")


if __name__ == "__main__":
    main()
