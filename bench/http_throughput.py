"""Throughput of `GET /api/info` through the catalog's middleware vs bare apps, under wrk.

    .venv/bin/python bench/http_throughput.py [--duration 10] [--connections 32] [--rounds 3]
        [--threads 2] [--variants NAME ...]

Each variant runs in its own single-worker process (`catalog serve` itself, on granian, for
the "shipped" variants; uvicorn for the others); wrk runs the rounds alternately (A, B, A,
B, ...) so drift on a shared machine hits all; the table shows each variant's median
req/s, its ratio to the last variant named, and the median of the rounds' p50 and p99
latencies (wrk --latency). Every request carries a bearer token (the shipped variants check
it). Needs wrk.

The honest comparison (issue 15): `--variants "shipped (info logs)" "shipped (warning logs)"
"bare FastAPI"`: the catalog exactly as an operator runs it (auth on, rate limits on with
limits far above the load, LOG_LEVEL=info, log lines to stdout) against a FastAPI app with no
catalog code answering the same bytes.
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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.support import SHIPPED_ENV, baseline_source, catalog_env, token_file

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PATH = "/api/info"


SERVE = "catalog serve"  # the launcher of the shipped variants: the real command
BARE = "bench.apps:plain_fastapi_app"  # needs the catalog's answer to copy (BENCH_INFO_BODY)

# name -> (app factory or SERVE, extra environment). "full stack" has rate limiting and auth
# off: the limiter has its own variants so its cost can be read off the ratio.
VARIANTS: dict[str, tuple[str, dict[str, str]]] = {
    "shipped (info logs)": (SERVE, SHIPPED_ENV | {"LOG_LEVEL": "info"}),
    "shipped (warning logs)": (SERVE, SHIPPED_ENV | {"LOG_LEVEL": "warning"}),
    # The shipped app and settings under uvicorn, the server `catalog serve` ran before granian.
    "shipped on uvicorn (info logs)": (
        "catalog.app:app_from_env",
        SHIPPED_ENV | {"LOG_LEVEL": "info"},
    ),
    "shipped, no middleware": ("bench.apps:no_middleware_app", SHIPPED_ENV | {"LOG_LEVEL": "info"}),
    "bare FastAPI": (BARE, {}),
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


def command(factory: str, port: int) -> list[str]:
    if factory == SERVE:
        return [
            sys.executable,
            "-m",
            "catalog",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ]
    quiet = ["--no-access-log", "--log-level", "warning"]
    return [sys.executable, "-m", "uvicorn", factory, "--factory", "--port", str(port), *quiet]


@contextmanager
def server(
    factory: str,
    port: int,
    env: dict[str, str],
    headers: dict[str, str] | None = None,
    ready_path: str = PATH,
) -> Iterator[None]:
    # Log lines go to /dev/null: the cost measured is making and writing them, not a terminal.
    process = subprocess.Popen(
        command(factory, port), cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                url = f"http://127.0.0.1:{port}{ready_path}"
                if httpx.get(url, headers=headers, timeout=1).status_code == 200:
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


UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(
    port: int,
    duration: int,
    connections: int,
    path: str = PATH,
    *,
    threads: int = 2,
    token: str | None = None,
) -> dict[str, float]:
    """One wrk run: req/s and the p50 and p99 latencies (ms)."""
    auth = ["-H", f"Authorization: Bearer {token}"] if token else []
    url = f"http://127.0.0.1:{port}{path}"
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency", *auth, url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    if "Non-2xx" in out:
        raise RuntimeError(f"non-2xx answers during the run:\n{out}")
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not rate:
        raise RuntimeError(out)
    run = {"rps": float(rate.group(1))}
    for percent in ("50", "99"):
        found = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)
        if not found:
            raise RuntimeError(out)
        run[f"p{percent}_ms"] = round(float(found.group(1)) * UNITS_MS[found.group(2)], 3)
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument(
        "--variants", nargs="+", default=["full stack", "no middleware"], choices=list(VARIANTS)
    )
    parser.add_argument(
        "--baseline",
        metavar="REF",
        help="also run each `catalog serve` variant with the code of git ref REF (before/after)",
    )
    parser.add_argument(
        "--path",
        default=PATH,
        help="what wrk requests; {product} becomes the id of a product of the demo catalog",
    )
    parser.add_argument("--seed", action="store_true", help="load the demo catalog first")
    args = parser.parse_args()
    if args.path != PATH and any(VARIANTS[name][0] == BARE for name in args.variants):
        sys.exit(f"the bare FastAPI app answers {PATH} only")
    variants = dict(VARIANTS)
    if args.baseline:
        source = baseline_source(args.baseline)
        named = []
        for name in args.variants:
            factory, extra = VARIANTS[name]
            if factory == SERVE:
                before = f"{name} @ {args.baseline}"
                variants[before] = (
                    factory,
                    extra | {"PYTHONPATH": catalog_env(source)["PYTHONPATH"]},
                )
                named.append(before)
            named.append(name)
        args.variants = named
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed (Debian: apt-get install wrk)")

    token, tokens_file = token_file()
    headers = {"authorization": f"Bearer {token}"}
    with tempfile.TemporaryDirectory() as tmp:
        db = f"sqlite:///{tmp}/bench.db"
        env = {
            "CATALOG_DATABASE_URL": db,
            "LOG_LEVEL": "warning",
            "RATE_LIMIT_ENABLED": "false",
            "AUTH_TOKENS_FILE": str(tokens_file),
            "CATALOG_SEARCH_INDEX_DIR": f"{tmp}/index",
        }
        for step in [["migrate"], ["seed-demo"]] if args.seed else [["migrate"]]:
            subprocess.run(
                [sys.executable, "-m", "catalog", *step],
                env={**os.environ, **env},
                check=True,
                capture_output=True,
            )
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in args.variants}
        ports = {name: 18101 + i for i, name in enumerate(args.variants)}
        with contextlib.ExitStack() as stack:
            # The catalog variants first: the bare one answers a copy of their /api/info.
            ordered = sorted(args.variants, key=lambda name: variants[name][0] == BARE)
            for name in ordered:
                factory, extra = variants[name]
                if factory == BARE:
                    env["BENCH_INFO_BODY"] = info_body(headers, env)
                stack.enter_context(server(factory, ports[name], env | extra, headers))
            path = resolve(args.path, ports[args.variants[0]], headers)
            for name in args.variants:  # warm-up (fills the response cache on a cached path)
                wrk(ports[name], 2, args.connections, path, threads=args.threads, token=token)
            for _ in range(args.rounds):
                for name in args.variants:
                    run = wrk(
                        ports[name],
                        args.duration,
                        args.connections,
                        path,
                        threads=args.threads,
                        token=token,
                    )
                    runs[name].append(run)

    def median(name: str, key: str) -> float:
        return statistics.median(run[key] for run in runs[name])

    medians = {name: median(name, "rps") for name in args.variants}
    baseline = medians[args.variants[-1]]
    result = {
        "date": time.strftime("%Y-%m-%d"),
        "path": path,
        "runs": runs,
        "median_rps": medians,
        "median_p50_ms": {name: median(name, "p50_ms") for name in args.variants},
        "median_p99_ms": {name: median(name, "p99_ms") for name in args.variants},
        "baseline": args.variants[-1],
        "ratios": {name: round(m / baseline, 3) for name, m in medians.items()},
        "duration_s": args.duration,
        "connections": args.connections,
        "threads": args.threads,
    }
    RESULTS.mkdir(exist_ok=True)
    label = "-vs-".join(args.variants) + ("" if args.path == PATH else f"-{args.path}")
    slug = re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")[:150]
    (RESULTS / f"http_throughput_{slug}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"| variant | median req/s | ratio to {args.variants[-1]} | p50 ms | p99 ms | runs |")
    print("|---|---|---|---|---|---|")
    for name in args.variants:
        rates = ", ".join(f"{run['rps']:.0f}" for run in runs[name])
        print(
            f"| {name} | {medians[name]:.0f} | {medians[name] / baseline:.3f} | "
            f"{median(name, 'p50_ms'):.2f} | {median(name, 'p99_ms'):.2f} | {rates} |"
        )


def resolve(path: str, port: int, headers: dict[str, str]) -> str:
    """`path` with `{product}` replaced by the id of the catalog's first product, once it
    answers 200 (a search index is built in the background after start-up)."""
    if "{product}" in path:
        url = f"http://127.0.0.1:{port}/api/data-products"
        items = httpx.get(url, params={"limit": 1}, headers=headers, timeout=10).json()["items"]
        if not items:
            sys.exit("no product to read: add --seed")
        path = path.replace("{product}", items[0]["id"])
    deadline = time.monotonic() + 60
    url = f"http://127.0.0.1:{port}{path}"
    while not httpx.get(url, headers=headers, timeout=10).is_success:
        if time.monotonic() > deadline:
            sys.exit(f"{path} does not answer 200")
        time.sleep(0.5)
    return path


def info_body(headers: dict[str, str], env: dict[str, str]) -> str:
    """The catalog's own `GET /api/info` answer, from a short-lived catalog."""
    port = 18100
    with server("bench.apps:full_app", port, env | {"ENABLE_AUTH": "false"}, headers):
        return httpx.get(f"http://127.0.0.1:{port}{PATH}", timeout=5).text


if __name__ == "__main__":
    main()
