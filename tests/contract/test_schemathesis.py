"""The OpenAPI document is the contract: schemathesis, every check, finds nothing.

`schemathesis run` (pinned in requirements-dev.lock; configuration and its few reasoned
exceptions in schemathesis.toml) drives a real `catalog serve` on SQLite with auth on, as an
admin, through every operation: examples, coverage (boundary and invalid values of every
parameter), fuzzing, and the stateful phase that follows the document's links from each create
to the operations on what it created. Any finding (a 5xx, a schema-valid request refused, an
invalid one accepted, an answer not as documented, a wrong Allow header, ...) fails the test
with schemathesis' report, which says how to replay it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.process import catalog_server, run_catalog
from tests.test_auth import TOKENS, write_tokens

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
SEED = "20261204"
EXAMPLES_PER_OPERATION = "10"
BUDGET_S = 600  # the run takes about a minute and a half on the 2-core CI machine


@pytest.mark.timeout(BUDGET_S + 120)
def test_schemathesis_finds_nothing(tmp_path: Path) -> None:
    env = {
        "CATALOG_DATABASE_URL": f"sqlite:///{tmp_path / 'contract.db'}",
        "CATALOG_SEARCH_INDEX_DIR": str(tmp_path / "search"),
        "ENABLE_AUTH": "true",
        "AUTH_TOKENS_FILE": str(write_tokens(tmp_path / "tokens", TOKENS)),
        # Limits on, far above what one client sends, so no case is answered 429 by chance.
        "RATE_LIMIT_ENABLED": "true",
        "RATE_LIMIT_GLOBAL_RPS": "100000",
        "RATE_LIMIT_GLOBAL_BURST": "100000",
        "RATE_LIMIT_PER_IP_RPS": "100000",
        "RATE_LIMIT_BURST": "100000",
        "CATALOG_RATE_LIMIT_ENDPOINTS": '{"GET /api/discover/search": "100000000/1000"}',
        "LOG_LEVEL": "warning",
    }
    migrated = run_catalog("migrate", env=env)
    assert migrated.returncode == 0, migrated.stderr
    with catalog_server(env, output=tmp_path / "server.log") as (_process, base):
        run = subprocess.run(
            [
                str(Path(sys.executable).parent / "schemathesis"),
                "--config-file",
                str(HERE / "schemathesis.toml"),
                "run",
                f"{base}/openapi.json",
                "--header",
                f"Authorization: Bearer {TOKENS['admin'][0]}",
                "--checks",
                "all",
                "--phases",
                "examples,coverage,fuzzing,stateful",
                "--max-examples",
                EXAMPLES_PER_OPERATION,
                "--seed",
                SEED,
                "--workers",
                "1",
                "--no-color",
            ],
            cwd=tmp_path,  # its cache and reports stay out of the checkout
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            timeout=BUDGET_S + 60,
            check=False,
        )
    report = run.stdout[-20000:] + run.stderr[-5000:]
    assert run.returncode == 0, report
    assert "No issues found" in run.stdout or " passed" in run.stdout, report
