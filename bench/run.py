"""Run benchmarks one after the other: `make bench` runs the quick ones, names pick others.

    .venv/bin/python -m bench.run                     # http_throughput, ratelimit_cost, cache
    .venv/bin/python -m bench.run search_latency bulk_ingest

Each benchmark prints its table and writes `bench/results/<name>.json`; bench/README.md says
what each measures and holds the latest results.
"""

from __future__ import annotations

import subprocess
import sys

QUICK = ["http_throughput", "ratelimit_cost", "cache"]
ALL = [*QUICK, "bulk_ingest", "search_latency", "search_lag", "relevance", "graph", "ui_render"]


def main() -> None:
    names = sys.argv[1:] or QUICK
    unknown = sorted(set(names) - set(ALL))
    if unknown:
        sys.exit(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(ALL)}")
    for name in names:
        print(f"## {name}", flush=True)
        subprocess.run([sys.executable, "-m", f"bench.{name}"], check=True)


if __name__ == "__main__":
    main()
