"""The README's signature checks (Python and openssl) verify a real delivery: what we tell
receivers to run is what the service signs."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient

from catalog.app import create_app
from catalog.settings import Settings
from tests.support.api import create_product, ok
from tests.support.receiver import Received, Receiver
from tests.support.wait import until

README = Path(__file__).parents[2] / "README.md"
SECRET = "readme-secret-0123456789"


def readme_block(language: str, containing: str) -> str:
    section = README.read_text().split("\n## Notifications\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(rf"```{language}\n(.*?)```", section, re.S)
    found: str = next(block for block in blocks if containing in block)
    return found


@pytest.fixture
async def delivery(
    sqlite_url: str,
    open_client: Callable[[FastAPI], Awaitable[AsyncClient]],
    receiver: Receiver,
) -> Received:
    settings = Settings(
        database_url=sqlite_url, notify_allowed_hosts=("127.0.0.1",), rate_limit_enabled=False
    )
    client = await open_client(create_app(settings))
    product = await create_product(client)
    body = {"product_id": product["id"], "url": receiver.url, "secret": SECRET}
    ok(await client.post("/api/subscriptions", json=body), 201)
    request = {"product_id": product["id"], "reason": "checking the docs"}
    ok(await client.post("/api/access-requests", json=request), 201)

    async def arrived() -> Received | None:
        return receiver.received[0] if receiver.received else None

    return await until(arrived, "a webhook delivery")


def test_the_readme_python_check_accepts_it_and_refuses_a_tampered_body(
    delivery: Received,
) -> None:
    namespace: dict[str, Any] = {}
    exec(readme_block("python", "def verify"), namespace)  # noqa: S102 - our own README
    header = delivery.headers["x-catalog-signature"]
    assert namespace["verify"](SECRET, header, delivery.raw)
    assert not namespace["verify"](SECRET, header, delivery.raw + b" ")
    assert not namespace["verify"]("another-secret-123456", header, delivery.raw)


def test_the_readme_openssl_check_computes_the_same_mac(delivery: Received, tmp_path: Path) -> None:
    if shutil.which("openssl") is None:
        pytest.fail("openssl is not installed: apt-get install openssl (.ci/run does)")
    (tmp_path / "body.json").write_bytes(delivery.raw)
    header = dict(part.split("=", 1) for part in delivery.headers["x-catalog-signature"].split(","))
    command = readme_block("bash", "openssl dgst")
    mac = subprocess.run(  # the README's command, in a temporary directory
        ["bash", "-c", command],
        cwd=tmp_path,
        env={"t": header["t"], "SECRET": SECRET, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout.strip()
    assert mac == header["v1"]
