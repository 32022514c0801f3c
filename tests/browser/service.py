"""The service the browser talks to: `catalog migrate`, `catalog seed-demo`, `catalog serve`,
run as an operator would, with authentication on and three people in a static tokens file.

One server for the whole browser session: loading the demo catalog takes about 15 s, and every
test reads it the same way (the flows that change data change their own rows only).
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.support.process import catalog_server, run_catalog
from tests.support.wait import until_sync

READY_DEADLINE_S = 60.0


@dataclass(frozen=True)
class Person:
    token: str
    subject: str
    role: str
    team: str | None


# The analyst's team has lineage chains in the demo (products of one team are chained) and
# restricted products only its own members see.
PEOPLE = {
    "analyst": Person("browser-analyst-secret", "alice", "viewer", "customer-success"),
    "steward": Person("browser-steward-secret", "stan", "steward", None),
    "admin": Person("browser-admin-secret", "ada", "admin", None),
}


def write_tokens(path: Path) -> Path:
    """The tokens file (`AUTH_TOKENS_FILE`): `sha256-hex subject role [team]` per line."""
    lines = ["# sha256 subject role [team]"]
    for person in PEOPLE.values():
        digest = hashlib.sha256(person.token.encode()).hexdigest()
        lines.append(
            f"{digest} {person.subject} {person.role}" + (f" {person.team}" if person.team else "")
        )
    path.write_text("\n".join(lines) + "\n")
    return path


@dataclass(frozen=True)
class Service:
    base: str
    log: Path

    def api(self, who: str = "admin") -> httpx.Client:
        """An API client with `who`'s bearer token (close it, or use it in a with block)."""
        token = PEOPLE[who].token
        return httpx.Client(
            base_url=self.base, headers={"authorization": f"Bearer {token}"}, timeout=30
        )

    def get_json(self, path: str, who: str = "admin", **params: Any) -> Any:
        with self.api(who) as client:
            response = client.get(path, params=params)
            response.raise_for_status()
            return response.json()


def _environment(directory: Path) -> dict[str, str]:
    return {
        "CATALOG_DATABASE_URL": f"sqlite:///{directory / 'catalog.db'}",
        "CATALOG_SEARCH_INDEX_DIR": str(directory / "search-index"),
        "ENABLE_AUTH": "true",
        "AUTH_TOKENS_FILE": str(write_tokens(directory / "tokens")),
        "RATE_LIMIT_ENABLED": "false",  # a browser loads pages and assets faster than 1.67/s
        "LOG_LEVEL": "warning",
    }


@contextlib.contextmanager
def running_service(directory: Path) -> Iterator[Service]:
    """The demo catalog served on a free port until the block ends; ready means `/readyz`
    answers 200 and the search index answers a search (its first build is in the background)."""
    env = _environment(directory)
    for args, timeout in ((("migrate",), 60), (("seed-demo",), 180)):
        done = run_catalog(*args, env=env, timeout=timeout)
        assert done.returncode == 0, f"catalog {args[0]} failed:\n{done.stdout}\n{done.stderr}"
    database = directory / "catalog.db"
    assert database.exists(), "the demo went to another database (CATALOG_DATABASE_URL unread?)"
    log = directory / "serve.log"
    with catalog_server(env, output=log) as (process, base):
        service = Service(base, log)
        last: list[str] = ["nothing yet"]

        def ready() -> bool:
            assert process.poll() is None, f"catalog serve exited:\n{log.read_text()}"
            with service.api() as client:
                try:
                    probe = client.get("/readyz")
                    search = client.get("/api/discover/search", params={"q": "a"})
                except httpx.TransportError as exc:
                    last[0] = repr(exc)
                    return False
            last[0] = f"/readyz {probe.status_code}, search {search.status_code}"
            return probe.status_code == 200 and search.status_code == 200

        until_sync(ready, lambda: f"catalog serve ready ({last[0]})", READY_DEADLINE_S, 0.2)
        yield service
