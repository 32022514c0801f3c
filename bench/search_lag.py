"""Write-to-searchable lag: how long after a write's answer search shows it, under writes.

    .venv/bin/python -m bench.search_lag --database postgresql [--connections 4] [--duration 30]

Serves the 100k-product catalog of `bench.search_latency` (run that first; it is reused) with
`catalog serve --workers 2` as shipped (auth and rate limits on, LOG_LEVEL=info). wrk keeps
changing the descriptions of 500 products (`--connections` at once: 4 make about 200 writes a
second on this machine); beside it a probe changes a product of its own 4 times a second,
each time with a new word, and searches that word every 20 ms until the product is found.
A probe's lag runs from the write's answer (its commit came before) to the first search that
finds it: the whole path (change log, the writer's poll and batch, the commit, every worker's
reload). Target: p95 <= 1 s at 200 writes/s.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from bench.search_latency import database_url, shipped_env
from bench.support import percentiles, save, serving, token_file

PROBE_EVERY_S = 0.25
POLL_S = 0.02
PATCH_LUA = """
ids = {%s}
counter = 0
request = function()
  counter = counter + 1
  return wrk.format("PATCH", "/api/data-products/" .. ids[(counter %% #ids) + 1],
    {["Authorization"] = "Bearer %s", ["Content-Type"] = "application/json"},
    '{"description": "changed by the lag benchmark, write ' .. counter .. '"}')
end
"""


def write_load(base: str, token: str, ids: list[str], connections: int, duration: float) -> float:
    """Writes per second wrk sustained."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(PATCH_LUA % (", ".join(f'"{i}"' for i in ids), token))
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{int(duration)}s", "-s", script.name, base],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if found is None or "Non-2xx" in out:
        raise RuntimeError(out)
    return float(found.group(1))


def probe(client: httpx.Client, product: str, n: int) -> float:
    word = f"probe{n:06d}x"
    client.patch(f"/api/data-products/{product}", json={"description": word}).raise_for_status()
    written = time.perf_counter()
    while time.perf_counter() - written < 30:
        answer = client.get("/api/discover/search", params={"q": word})
        if answer.status_code == 200 and answer.json()["total_count"] == 1:
            return (time.perf_counter() - written) * 1000
        time.sleep(POLL_S)
    return float("inf")


def run(base: str, token: str, connections: int, duration: float) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        ids = []
        for offset in (0, 500):
            page = client.get("/api/data-products", params={"limit": 500, "offset": offset})
            ids += [p["id"] for p in page.raise_for_status().json()["items"]]
        probed, loaded = ids[0], ids[1:501]
        rate: list[float] = []
        load = threading.Thread(
            target=lambda: rate.append(write_load(base, token, loaded, connections, duration))
        )
        load.start()
        lags: list[float] = []
        started = time.perf_counter()
        n = 0
        while time.perf_counter() - started < duration - 1:
            began = time.perf_counter()
            lags.append(probe(client, probed, n))
            n += 1
            time.sleep(max(0.0, PROBE_EVERY_S - (time.perf_counter() - began)))
        load.join()
    finite = [lag for lag in lags if lag != float("inf")]
    return {
        "connections": connections,
        "writes_per_s": rate[0] if rate else None,
        "probes": len(lags),
        "never_found": len(lags) - len(finite),
        "lag_ms": percentiles(finite) if finite else {},
        "lag_max_ms": round(max(finite), 1) if finite else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--duration", type=float, default=30.0)
    args = parser.parse_args()
    url = database_url(args.database, args.products, "after")
    index_dir = Path(tempfile.gettempdir()) / "catalog_bench_search_index_after"
    token, tokens_file = token_file()
    with serving(shipped_env(url, index_dir, tokens_file), port=18122, workers=2) as server:
        result = run(server.base, token, args.connections, args.duration)
    result = {"database": args.database, "products": args.products} | result
    save(f"search_lag_{args.database}", result)
    lag = result["lag_ms"]
    print(
        f"| {args.database} | {result['writes_per_s']} writes/s | {result['probes']} probes | "
        f"lag p50 {lag.get('p50')} ms, p95 {lag.get('p95')} ms, max {result['lag_max_ms']} ms |"
        f" {result['never_found']} never found |"
    )


if __name__ == "__main__":
    main()
