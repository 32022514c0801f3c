"""`catalog doctor`: the pre-deployment checklist against real dependencies.

A good production configuration (PostgreSQL at head, auth with a tokens file, Redis, a
reachable webhook, Sentry) passes with exit code 0; a bad one (auth off, Redis and the sink
unreachable, migrations behind, SQLite) fails line by line with exit code 1. The finer rules
are checked in process through `run_checks`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import socket
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from sqlalchemy import make_url
from typer.testing import CliRunner

from catalog.cli import cli
from catalog.db.migrate import head_revision, upgrade
from catalog.doctor import Result, run_checks
from catalog.settings import Settings
from tests.conftest import NAMESPACE
from tests.support.db import execute
from tests.support.jwks_server import JwksServer
from tests.support.process import run_catalog
from tests.support.receiver import Receiver
from tests.support.servers import Servers, free_port

CHECK_NAMES = [
    "database",
    "sqlite_in_production",
    "migrations",
    "indexes",
    "pool",
    "rate_limits",
    "trusted_proxies",
    "auth",
    "ui_sessions",
    "alert_sinks",
    "notifications",
    "cache",
    "search_index",
    "logs",
    "error_tracking",
]
LINE = re.compile(r"^(PASS|WARN|FAIL)  (\w+) +(.+)$")
DSN = "https://public0123@o1.ingest.sentry.io/42"


def doctor_process(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run_catalog("doctor", *args, env=env)


async def doctor(replicas: int = 1, **values: Any) -> dict[str, Result]:
    results = await run_checks(Settings(**values), replicas=replicas)
    assert [result.name for result in results] == CHECK_NAMES
    return {result.name: result for result in results}


def tokens_file(path: Path, *tokens: tuple[str, str, str]) -> Path:
    path.write_text(
        "".join(
            f"{hashlib.sha256(t.encode()).hexdigest()} {who} {role}\n" for t, who, role in tokens
        )
    )
    path.chmod(0o600)  # as a Secret mounted with a 0440 mode, or a file kept by its owner
    return path


@pytest.fixture(scope="module")
async def head_pg(servers: Servers, worker_number: int) -> AsyncIterator[str]:
    """A PostgreSQL database of this module's own, migrated to head."""
    name = f"catalog_doctor_{NAMESPACE}{worker_number}"
    admin = make_url(servers.database_url)
    connection = await asyncpg.connect(
        host=admin.host, port=admin.port, user=admin.username, database=admin.database
    )
    await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await connection.execute(f'CREATE DATABASE "{name}"')
    url = admin.set(database=name).render_as_string(hide_password=False)
    await asyncio.to_thread(upgrade, url)
    yield url
    await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await connection.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.stop()


@pytest.fixture
def behind_sqlite(tmp_path: Path) -> str:
    """A SQLite file whose migrations stopped before head."""
    url = f"sqlite:///{tmp_path}/behind.db"
    upgrade(url, "0003")
    return url


def unreachable_port() -> int:
    return free_port()  # bound and released: nothing listens there


async def test_a_good_production_configuration_passes(
    head_pg: str, redis_url: str, receiver: Receiver, tmp_path: Path
) -> None:
    env = {
        "ENVIRONMENT": "production",
        "CATALOG_DATABASE_URL": head_pg,
        "POSTGRES_MAX_CONNECTIONS": "10",
        "ENABLE_AUTH": "true",
        "AUTH_TOKENS_FILE": str(tokens_file(tmp_path / "tokens", ("s3cret-ops", "ops", "admin"))),
        "REDIS_URL": redis_url,
        "ALERT_WEBHOOK_URL": receiver.url,
        "SENTRY_DSN": DSN,
        "RATE_LIMIT_ENABLED": "true",
    }
    result = await asyncio.to_thread(doctor_process, "--workers", "2", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    parsed = [LINE.match(line) for line in lines]
    assert all(parsed), lines
    status = {m.group(2): m.group(1) for m in parsed if m}
    assert list(status) == CHECK_NAMES
    assert set(status.values()) <= {"PASS", "WARN"}
    for name in ("database", "migrations", "indexes", "auth", "alert_sinks", "cache", "logs"):
        assert status[name] == "PASS", lines
    assert status["error_tracking"] == "PASS"
    assert status["rate_limits"] == "PASS"
    assert status["pool"] in {"PASS", "WARN"}  # WARN when the shared server is busy
    assert "2 worker(s) x 5 connections" in result.stdout
    assert "tokens file (1 tokens, 1 admin)" in result.stdout
    assert receiver.attempts == 0, "the doctor must never send an alert"


async def test_a_bad_configuration_fails_with_exit_code_1(behind_sqlite: str) -> None:
    env = {
        "ENVIRONMENT": "production",
        "CATALOG_DATABASE_URL": behind_sqlite,
        "ENABLE_AUTH": "false",
        "REDIS_URL": f"redis://127.0.0.1:{unreachable_port()}/0",
        "ALERT_WEBHOOK_URL": f"http://127.0.0.1:{unreachable_port()}/hook",
    }
    result = await asyncio.to_thread(doctor_process, "--json", env=env)
    assert result.returncode == 1, result.stdout + result.stderr
    checks = json.loads(result.stdout)  # stdout is the report only
    assert isinstance(checks, list)
    assert all(set(check) == {"status", "name", "detail"} for check in checks)
    assert [check["name"] for check in checks] == CHECK_NAMES
    by_name = {check["name"]: check for check in checks}
    assert by_name["database"]["status"] == "PASS"
    failed = {check["name"] for check in checks if check["status"] == "FAIL"}
    assert failed == {
        "sqlite_in_production",
        "migrations",
        "indexes",
        "auth",
        "alert_sinks",
        "cache",
    }
    assert by_name["migrations"]["detail"] == (
        f"at 0003, head is {head_revision()}: run catalog migrate"
    )
    assert "ENABLE_AUTH=false" in by_name["auth"]["detail"]
    assert "webhook (127.0.0.1) unreachable" in by_name["alert_sinks"]["detail"]
    assert by_name["cache"]["detail"].startswith("Redis redis://127.0.0.1:")
    assert "idx_alerts_status" in by_name["indexes"]["detail"]  # created by migration 0004


async def test_text_output_names_each_failure(behind_sqlite: str) -> None:
    """(In process: the same command, without a process start.)"""
    env = {"CATALOG_DATABASE_URL": behind_sqlite, "ENVIRONMENT": "development"}
    result = await asyncio.to_thread(CliRunner().invoke, cli, ["doctor"], env=env)
    assert result.exit_code == 1  # migrations behind fail everywhere
    lines = result.stdout.splitlines()
    assert [LINE.match(line).group(2) for line in lines] == CHECK_NAMES  # type: ignore[union-attr]
    assert next(line for line in lines if line.startswith("FAIL  migrations"))
    # development: only unsafe for production, so a warning
    assert next(line for line in lines if line.startswith("WARN  auth"))
    assert next(line for line in lines if line.startswith("WARN  sqlite_in_production"))


# --- the rules, in process -----------------------------------------------------------------


async def test_pool_against_the_server_limit(head_pg: str) -> None:
    fits = await doctor(database_url=head_pg, postgres_max_connections=20, workers=4)
    assert fits["pool"].status in {"PASS", "WARN"}
    assert "4 worker(s) x 5 connections (pool 2 + overflow 3) = 20" in fits["pool"].detail
    assert "max_connections" in fits["pool"].detail
    too_many = await doctor(database_url=head_pg, postgres_max_connections=5000)
    assert too_many["pool"].status == "FAIL"
    assert "lower POSTGRES_MAX_CONNECTIONS" in too_many["pool"].detail
    replicas = await doctor(database_url=head_pg, postgres_max_connections=60, replicas=3)
    assert replicas["pool"].status == "FAIL", "3 replicas x 60 exceed the server's 100"
    workers = await doctor(database_url=head_pg, postgres_max_connections=4, workers=8)
    assert workers["pool"].status == "FAIL"
    assert "8 workers but POSTGRES_MAX_CONNECTIONS=4" in workers["pool"].detail


async def test_an_unreachable_database_fails_and_skips_what_needs_it() -> None:
    url = f"postgresql://catalog@127.0.0.1:{unreachable_port()}/catalog"
    results = await doctor(database_url=url, dependency_timeout_s=1.0)
    assert results["database"].status == "FAIL"
    assert "127.0.0.1" in results["database"].detail
    for name in ("migrations", "indexes", "pool"):
        assert results[name].status == "WARN"
        assert results[name].detail == "not checked: the database is unreachable"


async def test_a_missing_sqlite_file_fails_and_is_not_created(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.db"
    results = await doctor(database_url=f"sqlite:///{path}")
    assert results["database"].status == "FAIL"
    assert "no such file" in results["database"].detail
    assert not path.exists()


async def test_auth_rules(sqlite_url: str, tmp_path: Path) -> None:
    dev_token = tokens_file(tmp_path / "dev", ("test-token", "test-user", "admin"))
    results = await doctor(database_url=sqlite_url, enable_auth=True, auth_tokens_file=dev_token)
    assert results["auth"].status == "FAIL"
    assert "test-token" in results["auth"].detail

    results = await doctor(
        database_url=sqlite_url, enable_auth=True, auth_tokens_file=tmp_path / "absent"
    )
    assert results["auth"].status == "FAIL"
    assert "cannot be read" in results["auth"].detail

    empty = tmp_path / "empty"
    empty.write_text("# nothing yet\n")
    results = await doctor(database_url=sqlite_url, enable_auth=True, auth_tokens_file=empty)
    assert results["auth"].status == "FAIL"

    results = await doctor(database_url=sqlite_url, enable_auth=True, environment="production")
    assert results["auth"].status == "FAIL"
    assert "test-token" in results["auth"].detail
    assert (await doctor(database_url=sqlite_url))["auth"].status == "WARN"
    off = await doctor(database_url=sqlite_url, environment="production")
    assert off["auth"].status == "FAIL"

    good = tokens_file(tmp_path / "good", ("a-real-secret", "ops", "admin"), ("x", "v", "viewer"))
    results = await doctor(database_url=sqlite_url, enable_auth=True, auth_tokens_file=good)
    assert results["auth"].status == "PASS"
    assert "tokens file (2 tokens, 1 admin), 0 unrevoked API key(s)" in results["auth"].detail

    good.chmod(0o644)  # a Secret mounted with the default mode: everyone on the host reads it
    results = await doctor(database_url=sqlite_url, enable_auth=True, auth_tokens_file=good)
    assert results["auth"].status == "WARN"
    assert "readable by every user of the host" in results["auth"].detail
    good.chmod(0o666)  # and writes it: anyone could add an admin
    results = await doctor(database_url=sqlite_url, enable_auth=True, auth_tokens_file=good)
    assert results["auth"].status == "FAIL"
    assert "anyone could add an admin" in results["auth"].detail


async def test_auth_with_a_jwks(sqlite_url: str) -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = dict(RSAAlgorithm.to_jwk(private.public_key(), as_dict=True)) | {"kid": "k1"}
    server = JwksServer().start()
    server.serve(jwk)
    values: dict[str, Any] = {
        "database_url": sqlite_url,
        "enable_auth": True,
        "jwt_jwks_url": server.url,
        "jwt_issuer": "https://idp.example/",
        "jwt_audience": "catalog",
    }
    try:
        results = await doctor(**values)
        assert results["auth"].status == "PASS"
        assert "JWKS (1 keys)" in results["auth"].detail
        server.status = 500
        results = await doctor(**values)
        assert results["auth"].status == "FAIL"
        assert "JWKS" in results["auth"].detail
    finally:
        server.stop()
    results = await doctor(**values)
    assert results["auth"].status == "FAIL"
    results = await doctor(**(values | {"jwt_issuer": None}))
    assert "without JWT_ISSUER" in results["auth"].detail


async def test_rate_limit_rules(sqlite_url: str) -> None:
    assert (await doctor(database_url=sqlite_url))["rate_limits"].status == "PASS"
    off = await doctor(database_url=sqlite_url, rate_limit_enabled=False)
    assert off["rate_limits"].status == "WARN"
    production = await doctor(
        database_url=sqlite_url, rate_limit_enabled=False, environment="production"
    )
    assert production["rate_limits"].status == "FAIL"
    odd = await doctor(
        database_url=sqlite_url,
        rate_limit_per_ip_rps=50.0,
        workers=4,
    )
    assert odd["rate_limits"].status == "WARN"
    detail = odd["rate_limits"].detail
    assert "RATE_LIMIT_PER_IP_RPS above RATE_LIMIT_GLOBAL_RPS" in detail
    assert "each of the 4 processes has its own buckets" in detail
    # Replicas without Redis multiply every limit by their number: unsafe in production.
    replicas = await doctor(replicas=3, database_url=sqlite_url, environment="production")
    assert replicas["rate_limits"].status == "FAIL"
    assert "each of the 3 processes has its own buckets" in replicas["rate_limits"].detail
    assert (await doctor(replicas=3, database_url=sqlite_url))["rate_limits"].status == "WARN"


async def test_trusted_proxy_rules(sqlite_url: str) -> None:
    alone = await doctor(database_url=sqlite_url)
    assert alone["trusted_proxies"].status == "PASS"
    assert "X-Forwarded-For is ignored" in alone["trusted_proxies"].detail
    behind = await doctor(replicas=2, database_url=sqlite_url)
    assert behind["trusted_proxies"].status == "WARN"
    assert "set TRUSTED_PROXIES" in behind["trusted_proxies"].detail
    everyone = await doctor(database_url=sqlite_url, trusted_proxies="0.0.0.0/0")
    assert everyone["trusted_proxies"].status == "FAIL"
    assert "trusts every address" in everyone["trusted_proxies"].detail
    proxy = await doctor(
        replicas=2, database_url=sqlite_url, trusted_proxies="10.0.0.5,10.1.0.0/16"
    )
    assert proxy["trusted_proxies"].status == "PASS"
    assert "read from 10.0.0.5/32, 10.1.0.0/16" in proxy["trusted_proxies"].detail


async def test_alert_sink_rules(sqlite_url: str, receiver: Receiver) -> None:
    none = await doctor(database_url=sqlite_url)
    assert none["alert_sinks"].status == "WARN"
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    smtp_port = listener.getsockname()[1]
    try:
        reachable = await doctor(
            database_url=sqlite_url,
            alert_webhook_url=receiver.url,
            alert_smtp_host="127.0.0.1",
            alert_smtp_port=smtp_port,
            alert_email_to=("ops@example.com",),
        )
        assert reachable["alert_sinks"].status == "PASS", reachable["alert_sinks"].detail
        assert "email (127.0.0.1) accepts connections" in reachable["alert_sinks"].detail
        no_recipient = await doctor(
            database_url=sqlite_url, alert_smtp_host="127.0.0.1", alert_smtp_port=smtp_port
        )
        assert no_recipient["alert_sinks"].status == "FAIL"
    finally:
        listener.close()
    assert receiver.attempts == 0
    secret = await doctor(
        database_url=sqlite_url,
        alert_slack_webhook_url=f"http://127.0.0.1:{unreachable_port()}/services/T0/B0/SECRET",
    )
    assert secret["alert_sinks"].status == "FAIL"
    assert "SECRET" not in secret["alert_sinks"].detail


async def test_notification_rules(sqlite_url: str) -> None:
    unset = await doctor(database_url=sqlite_url)
    assert unset["notifications"].status == "WARN"
    assert "CATALOG_NOTIFY_PUBLIC_URL unset" in unset["notifications"].detail
    fine = await doctor(
        database_url=sqlite_url,
        notify_public_url="https://catalog.example.com",
        notify_allowed_hosts="hooks.internal,10.20.0.0/16",
    )
    assert fine["notifications"].status == "PASS"
    assert "hooks.internal, 10.20.0.0/16" in fine["notifications"].detail
    for wide, says in (("169.254.0.0/16", "cloud metadata"), ("10.0.0.0/7", "more than a /8")):
        risky = await doctor(
            database_url=sqlite_url, notify_allowed_hosts=wide, environment="production"
        )
        assert risky["notifications"].status == "FAIL"
        assert says in risky["notifications"].detail


async def test_cache_error_tracking_and_logs(sqlite_url: str, redis_url: str) -> None:
    results = await doctor(database_url=sqlite_url, redis_url=redis_url)
    assert results["cache"].status == "PASS"
    assert results["logs"].status == "PASS"
    assert results["logs"].detail == "JSON lines on stdout, level info"
    assert (await doctor(database_url=sqlite_url))["cache"].status == "WARN"
    bad = await doctor(database_url=sqlite_url, sentry_dsn="not a dsn")
    assert bad["error_tracking"].status == "FAIL"
    good = await doctor(database_url=sqlite_url, sentry_dsn=DSN)
    assert good["error_tracking"].status == "PASS"
    assert "project 42" in good["error_tracking"].detail


async def test_a_dropped_index_fails_the_indexes_check(head_pg: str) -> None:
    await execute(head_pg, "DROP INDEX idx_product_tags_tag_id")
    try:
        results = await doctor(database_url=head_pg)
        assert results["indexes"].status == "FAIL"
        assert "idx_product_tags_tag_id (guide: absent)" in results["indexes"].detail
    finally:
        await execute(head_pg, "CREATE INDEX idx_product_tags_tag_id ON product_tags (tag_id)")
    assert (await doctor(database_url=head_pg))["indexes"].status == "PASS"


async def test_search_index_rules(sqlite_url: str, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    unwritable = await doctor(database_url=sqlite_url, search_index_dir=blocker / "index")
    assert unwritable["search_index"].status == "FAIL"
    assert "cannot be written" in unwritable["search_index"].detail

    index_dir = tmp_path / "index"
    env = {"CATALOG_DATABASE_URL": sqlite_url, "CATALOG_SEARCH_INDEX_DIR": str(index_dir)}
    missing = await doctor(database_url=sqlite_url, search_index_dir=index_dir)
    assert missing["search_index"].status == "WARN"
    assert "no usable index" in missing["search_index"].detail

    rebuilt = await asyncio.to_thread(run_catalog, "search", "rebuild", env=env)
    assert rebuilt.returncode == 0, rebuilt.stderr
    ready = await doctor(database_url=sqlite_url, search_index_dir=index_dir)
    assert ready["search_index"].status == "PASS"
    assert "0 products, caught up" in ready["search_index"].detail

    await execute(
        sqlite_url,
        "INSERT INTO change_log (label, node_id, created_at) VALUES ('DataProduct', 'x', :at)",
        at="2026-01-01 00:00:00",
    )
    behind = await doctor(database_url=sqlite_url, search_index_dir=index_dir)
    assert behind["search_index"].status == "WARN"
    assert "1 changes not applied yet" in behind["search_index"].detail


async def test_ui_sessions_need_one_key_across_hosts(sqlite_url: str, tmp_path: Path) -> None:
    base: dict[str, Any] = {
        "database_url": sqlite_url,
        "enable_auth": True,
        "search_index_dir": tmp_path,
    }
    assert (await doctor(database_url=sqlite_url))["ui_sessions"].status == "PASS"
    one_host = (await doctor(**base))["ui_sessions"]
    assert (one_host.status, one_host.detail) == (
        "PASS",
        f"signed with {tmp_path / 'ui-session.key'} (this host's workers share it)",
    )
    spread = (await doctor(replicas=3, **base))["ui_sessions"]
    assert spread.status == "WARN"
    assert "a sign-in holds on one of 3 replicas only" in spread.detail
    keyed = await doctor(replicas=3, ui_session_secret="k" * 40, **base)
    assert keyed["ui_sessions"].status == "PASS"
