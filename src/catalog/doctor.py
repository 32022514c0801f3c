"""`catalog doctor`: the readiness guide's pre-deployment checklist, run for real.

Each check is one small function of the live configuration and the dependencies it names,
answering PASS, WARN or FAIL with one line of detail. What is broken whatever the
environment (a dependency that does not answer, migrations behind, an index missing, a
credential file that cannot be read) FAILs. What is only unsafe for production (auth off,
rate limits off, SQLite) FAILs with `ENVIRONMENT=production` and WARNs in development, so the
same command checks a laptop and gates a deployment. Checks never change anything: alert
sinks get a HEAD request or a TCP connection, never an alert; Redis gets a PING.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import ipaddress
import json
import logging
import os
import shutil
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import httpx
from sqlalchemy import func, make_url, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from catalog.db.engine import create_engine, pool_size_for
from catalog.search.directory import default_root
from catalog.server.ui_session import KEY_FILE
from catalog.settings import Settings

Status = Literal["PASS", "WARN", "FAIL"]


@dataclass(frozen=True)
class Result:
    status: Status
    name: str
    detail: str


@dataclass
class Context:
    settings: Settings
    engine: AsyncEngine
    replicas: int = 1
    database_error: str | None = field(default=None)

    @property
    def timeout_s(self) -> float:
        return self.settings.dependency_timeout_s

    @property
    def unsafe(self) -> Status:
        """How bad a setting that is only unsafe in production is here."""
        return "FAIL" if self.settings.is_production else "WARN"

    def skipped(self, name: str) -> Result | None:
        if self.database_error is None:
            return None
        return Result("WARN", name, "not checked: the database is unreachable")


def _error(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    message = str(exc).splitlines()[0][:160] if str(exc) else ""
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def _ms(started: float) -> str:
    return f"{(time.perf_counter() - started) * 1000:.0f} ms"


# --- the database ------------------------------------------------------------------------


async def check_database(ctx: Context) -> Result:
    settings = ctx.settings
    shown = make_url(settings.database_url).render_as_string(hide_password=True)
    if settings.is_sqlite:
        path = make_url(settings.database_url).database or ""
        if path not in ("", ":memory:") and not await asyncio.to_thread(Path(path).is_file):
            ctx.database_error = "no file"
            return Result("FAIL", "database", f"{shown}: no such file (catalog migrate creates it)")
    started = time.perf_counter()
    query = "SELECT sqlite_version()" if settings.is_sqlite else "SHOW server_version"
    try:
        async with asyncio.timeout(ctx.timeout_s), ctx.engine.connect() as connection:
            version = await connection.scalar(text(query))
    except Exception as exc:  # whatever the driver raises, the database is not usable
        ctx.database_error = _error(exc)
        return Result("FAIL", "database", f"{shown}: {ctx.database_error}")
    name = "SQLite" if settings.is_sqlite else "PostgreSQL"
    return Result("PASS", "database", f"{name} {version} answers in {_ms(started)}")


async def check_sqlite_in_production(ctx: Context) -> Result:
    settings = ctx.settings
    name = "sqlite_in_production"
    if not settings.is_sqlite:
        return Result("PASS", name, "PostgreSQL")
    if settings.is_production and settings.allow_sqlite_in_production:
        return Result(
            "WARN", name, "SQLite in production (CATALOG_ALLOW_SQLITE_IN_PRODUCTION): one writer"
        )
    return Result(
        ctx.unsafe, name, "SQLite is the embedded development database; production needs PostgreSQL"
    )


async def check_migrations(ctx: Context) -> Result:
    from catalog.db.migrate import current_revision, head_revision

    if skipped := ctx.skipped("migrations"):
        return skipped
    head = head_revision()
    try:
        current = await current_revision(ctx.engine)
    except Exception as exc:
        return Result("FAIL", "migrations", f"revision unreadable: {_error(exc)}")
    if current == head:
        return Result("PASS", "migrations", f"at head ({head})")
    if current is None:
        return Result("FAIL", "migrations", f"no schema (head is {head}): run catalog migrate")
    return Result("FAIL", "migrations", f"at {current}, head is {head}: run catalog migrate")


async def check_indexes(ctx: Context) -> Result:
    from catalog.db.indexes import index_report

    if skipped := ctx.skipped("indexes"):
        return skipped
    try:
        async with ctx.engine.connect() as connection:
            report = await index_report(connection)
    except Exception as exc:
        return Result("FAIL", "indexes", f"cannot list indexes: {_error(exc)}")
    if report.missing:
        missing = sorted(report.missing, key=lambda m: (m.origin != "guide", m.name))
        shown = ", ".join(f"{m.name} ({m.origin}: {m.reason})" for m in missing[:5])
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        return Result(
            "FAIL", "indexes", f"missing {shown}{more}: catalog migrate, or recreate them"
        )
    guide = sum(1 for index in report.indexes if index.expected == "guide")
    expected = sum(1 for index in report.indexes if index.expected)
    return Result("PASS", "indexes", f"all {expected} expected indexes present ({guide} guide)")


async def check_pool(ctx: Context) -> Result:
    settings = ctx.settings
    if settings.is_sqlite:
        return Result("PASS", "pool", "SQLite: no server connections to share")
    if skipped := ctx.skipped("pool"):
        return skipped
    steady, overflow = pool_size_for(settings)
    per_worker, workers = steady + overflow, settings.workers
    total = per_worker * workers * ctx.replicas
    try:
        async with ctx.engine.connect() as connection:
            server = (
                await connection.execute(
                    text(
                        "SELECT current_setting('max_connections')::int AS most,"
                        " current_setting('superuser_reserved_connections')::int AS reserved,"
                        " (SELECT count(*) FROM pg_stat_activity"
                        "  WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
                        "  AND application_name <> 'catalog') AS others"
                    )
                )
            ).one()
    except Exception as exc:
        return Result("FAIL", "pool", f"cannot read max_connections: {_error(exc)}")
    available = server.most - server.reserved
    detail = (
        f"{ctx.replicas} replica(s) x {workers} worker(s) x {per_worker} connections "
        f"(pool {steady} + overflow {overflow}) = {total}; the server allows {available} "
        f"(max_connections {server.most} - {server.reserved} reserved), "
        f"{server.others} held by other clients now"
    )
    if workers > settings.postgres_max_connections:
        return Result(
            "FAIL",
            "pool",
            f"{workers} workers but POSTGRES_MAX_CONNECTIONS={settings.postgres_max_connections}",
        )
    if total > available:
        return Result("FAIL", "pool", f"{detail}: lower POSTGRES_MAX_CONNECTIONS")
    if total > available - server.others:
        return Result("WARN", "pool", f"{detail}: little room left for the other clients")
    if per_worker < 2:
        return Result("WARN", "pool", f"{detail}: one connection per worker serialises requests")
    return Result("PASS", "pool", detail)


# --- protection ----------------------------------------------------------------------------


async def check_rate_limits(ctx: Context) -> Result:
    s = ctx.settings
    if not s.rate_limit_enabled:
        return Result(ctx.unsafe, "rate_limits", "RATE_LIMIT_ENABLED=false: nothing limits floods")
    problems = []
    if s.rate_limit_per_ip_rps > s.rate_limit_global_rps:
        problems.append("RATE_LIMIT_PER_IP_RPS above RATE_LIMIT_GLOBAL_RPS")
    if s.rate_limit_burst > s.rate_limit_global_burst:
        problems.append("RATE_LIMIT_BURST above RATE_LIMIT_GLOBAL_BURST")
    if not s.redis_url and s.workers * ctx.replicas > 1:
        processes = s.workers * ctx.replicas
        problems.append(f"no REDIS_URL: each of the {processes} processes has its own buckets")
    detail = (
        f"global {s.rate_limit_global_rps:g}/s burst {s.rate_limit_global_burst}, per client "
        f"{s.rate_limit_per_ip_rps:g}/s burst {s.rate_limit_burst}, "
        f"{len(s.rate_limit_endpoints)} endpoint override(s), "
        f"buckets {'in Redis' if s.redis_url else 'in process'}"
    )
    if problems:
        # Replicas without shared buckets multiply every limit by their number: unsafe.
        status = ctx.unsafe if not s.redis_url and ctx.replicas > 1 else "WARN"
        return Result(status, "rate_limits", f"{detail}; " + "; ".join(problems))
    return Result("PASS", "rate_limits", detail)


async def check_trusted_proxies(ctx: Context) -> Result:
    """Whose X-Forwarded-For is believed: the client address of rate limits, audit and logs."""
    networks = ctx.settings.trusted_proxies
    if any(network.prefixlen == 0 for network in networks):
        return Result(
            "FAIL",
            "trusted_proxies",
            "TRUSTED_PROXIES trusts every address: any client picks its own address "
            "(rate-limit bucket, audit lines) with an X-Forwarded-For header",
        )
    if not networks:
        detail = "none: X-Forwarded-For is ignored, the client is the connection's peer"
        if ctx.replicas > 1:
            return Result(
                "WARN",
                "trusted_proxies",
                f"{detail}; with {ctx.replicas} replicas behind a proxy or load balancer every "
                "client would share its address (one rate-limit bucket): set TRUSTED_PROXIES "
                "to its addresses",
            )
        return Result("PASS", "trusted_proxies", detail)
    listed = ", ".join(str(network) for network in networks)
    return Result("PASS", "trusted_proxies", f"X-Forwarded-For is read from {listed}")


def _tokens_file(path: Path) -> tuple[str | None, str | None]:
    """(description, problem) of the static tokens file."""
    from catalog.identity.static_tokens import DEV_TOKEN_SHA256, parse_tokens

    try:
        content = path.read_text(encoding="utf-8")
        mode = path.stat().st_mode
    except OSError as exc:
        return None, f"AUTH_TOKENS_FILE {path} cannot be read ({type(exc).__name__})"
    if mode & 0o022:
        return None, f"{path} can be written by others than its owner: anyone could add an admin"
    entries = parse_tokens(content)
    if any(entry.sha256.hex() == DEV_TOKEN_SHA256 for entry in entries):
        return None, f"{path} lists the development token test-token"
    if not entries:
        return None, f"{path} holds no valid token line"
    admins = sum(1 for entry in entries if entry.role == "admin")
    return f"tokens file ({len(entries)} tokens, {admins} admin)", None


async def _jwks(settings: Settings, timeout_s: float) -> tuple[str | None, str | None]:
    from catalog.identity.jwt import usable_keys

    url = settings.jwt_jwks_url or ""
    if not (settings.jwt_issuer and settings.jwt_audience):
        return None, "JWT_JWKS_URL is set without JWT_ISSUER and JWT_AUDIENCE"
    try:
        async with httpx.AsyncClient(timeout=timeout_s) as http:
            response = await http.get(url, headers={"Accept": "application/json"})
        response.raise_for_status()
        keys = usable_keys(response.json())
    except Exception as exc:  # any failure means tokens cannot be verified
        return None, f"JWKS {url} unusable: {_error(exc)}"
    if not keys:
        return None, f"JWKS {url} has no usable signing key"
    return f"JWKS ({len(keys)} keys)", None


async def _active_api_keys(ctx: Context) -> str | None:
    from catalog.db.models import ApiKey

    if ctx.database_error is not None:
        return None
    try:
        async with ctx.engine.connect() as connection:
            count = await connection.scalar(
                select(func.count()).select_from(ApiKey).where(ApiKey.revoked_at.is_(None))
            )
    except Exception:  # reported by the database and migrations checks
        return None
    return f"{count} unrevoked API key(s)"


async def check_auth(ctx: Context) -> Result:
    s = ctx.settings
    if not s.enable_auth:
        return Result(
            ctx.unsafe,
            "auth",
            f"ENABLE_AUTH=false: every request runs as {s.anonymous_role}",
        )
    sources: list[str] = []
    problems: list[str] = []
    if s.auth_tokens_file is not None:
        found, problem = _tokens_file(s.auth_tokens_file)
        sources += [found] if found else []
        problems += [problem] if problem else []
    if s.jwt_jwks_url:
        found, problem = await _jwks(s, ctx.timeout_s)
        sources += [found] if found else []
        problems += [problem] if problem else []
    if keys := await _active_api_keys(ctx):
        sources.append(keys)
    if problems:
        return Result("FAIL", "auth", "; ".join(problems))
    tokens = s.auth_tokens_file
    if tokens is not None and tokens.exists() and tokens.stat().st_mode & 0o004:
        # Mount it from a Secret with mode 0440 (the chart does), or chmod 600: it holds
        # hashes only, but a list of who is admin is a map for an attacker.
        return Result(
            "WARN",
            "auth",
            "enabled; the tokens file is readable by every user of the host: mount it from a "
            "Secret with a 0440 mode or chmod 600 it; credentials: " + ", ".join(sources),
        )
    if s.auth_tokens_file is None and not s.jwt_jwks_url:
        return Result(
            ctx.unsafe,
            "auth",
            "no AUTH_TOKENS_FILE or JWT_JWKS_URL: only the development token test-token works",
        )
    return Result("PASS", "auth", "enabled; credentials: " + ", ".join(sources))


async def check_ui_sessions(ctx: Context) -> Result:
    """The web UI's cookies must be signed with one key by every process that serves it."""
    s = ctx.settings
    if not s.enable_auth:
        return Result("PASS", "ui_sessions", "ENABLE_AUTH=false: the web UI needs no sign-in")
    if s.ui_session_secret:
        return Result("PASS", "ui_sessions", "signed with CATALOG_UI_SESSION_SECRET")
    key_file = default_root(s) / KEY_FILE
    if ctx.replicas > 1:
        return Result(
            "WARN",
            "ui_sessions",
            f"CATALOG_UI_SESSION_SECRET unset: each host signs with its own {key_file}, so a "
            f"sign-in holds on one of {ctx.replicas} replicas only: set it",
        )
    return Result("PASS", "ui_sessions", f"signed with {key_file} (this host's workers share it)")


# --- operations ----------------------------------------------------------------------------


def _sink_targets(s: Settings) -> list[tuple[str, str]]:
    """(sink, URL to probe); email as smtp://host:port."""
    targets = []
    if s.alert_webhook_url:
        targets.append(("webhook", s.alert_webhook_url))
    if s.alert_slack_webhook_url:
        targets.append(("slack", s.alert_slack_webhook_url.get_secret_value()))
    if s.alert_pagerduty_routing_key:
        targets.append(("pagerduty", s.pagerduty_events_url))
    if s.alert_smtp_host:
        targets.append(("email", f"smtp://{s.alert_smtp_host}:{s.alert_smtp_port}"))
    return targets


async def _probe(url: str, timeout_s: float) -> str:
    """How the endpoint answered; raises when it cannot be reached. Sends no alert: HTTP
    endpoints get a HEAD (any status proves the receiver is there), SMTP a TCP connect."""
    parts = urlsplit(url)
    if parts.scheme == "smtp":
        async with asyncio.timeout(timeout_s):
            _, writer = await asyncio.open_connection(parts.hostname, parts.port)
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
        return "accepts connections"
    async with httpx.AsyncClient(timeout=timeout_s) as http:
        response = await http.head(url)
    return f"HTTP {response.status_code}"


async def check_alert_sinks(ctx: Context) -> Result:
    s = ctx.settings
    targets = _sink_targets(s)
    if not targets:
        return Result(
            "WARN",
            "alert_sinks",
            "no sink configured: alerts reach only GET /api/admin/alerts and the logs",
        )
    results = await asyncio.gather(
        *(_probe(url, ctx.timeout_s) for _, url in targets), return_exceptions=True
    )
    lines, failed = [], False
    for (name, url), outcome in zip(targets, results, strict=True):
        host = urlsplit(url).hostname  # never the path: Slack's holds its secret
        if isinstance(outcome, BaseException):
            failed = True
            lines.append(f"{name} ({host}) unreachable: {_error(outcome)}")
        else:
            lines.append(f"{name} ({host}) {outcome}")
    if s.alert_smtp_host and not s.alert_email_to:
        lines.append("email has no CATALOG_ALERT_EMAIL_TO")
        failed = True
    return Result("FAIL" if failed else "PASS", "alert_sinks", "; ".join(lines))


CLOUD_METADATA = ipaddress.ip_address("169.254.169.254")


async def check_notifications(ctx: Context) -> Result:
    """The SSRF allow-list lets webhooks reach only what it must (never the cloud metadata
    service, never most of a private range), and events link to the UI's real address."""
    s = ctx.settings
    problems = []
    for entry in s.notify_allowed_hosts:
        with contextlib.suppress(ValueError):  # a host name, not a network
            network = ipaddress.ip_network(entry, strict=False)
            if CLOUD_METADATA in network:
                problems.append(f"{entry} holds the cloud metadata address {CLOUD_METADATA}")
            elif network.prefixlen < (8 if network.version == 4 else 16):
                problems.append(f"{entry} spans more than a /8")
    if problems:
        return Result(
            ctx.unsafe,
            "notifications",
            "CATALOG_NOTIFY_ALLOWED_HOSTS lets webhooks reach internal services (SSRF): "
            + "; ".join(problems),
        )
    allowed = ", ".join(s.notify_allowed_hosts) or "none"
    if not s.notify_public_url:
        return Result(
            "WARN",
            "notifications",
            f"CATALOG_NOTIFY_PUBLIC_URL unset: events link to relative paths; internal "
            f"webhook targets allowed: {allowed}",
        )
    return Result(
        "PASS",
        "notifications",
        f"events link to {s.notify_public_url}; internal webhook targets allowed: {allowed}",
    )


async def check_cache(ctx: Context) -> Result:
    from catalog.server.resources import open_redis

    s = ctx.settings
    redis = open_redis(s)
    if redis is None:
        return Result(
            "WARN",
            "cache",
            "REDIS_URL unset: cache and rate limits are per process, not shared by replicas",
        )
    started = time.perf_counter()
    shown = make_url(s.redis_url or "").render_as_string(hide_password=True)
    try:
        async with asyncio.timeout(ctx.timeout_s):
            await redis.ping()
    except Exception as exc:  # any failure: the shared cache and buckets are unavailable
        return Result("FAIL", "cache", f"Redis {shown}: {_error(exc)}")
    finally:
        await redis.aclose()
    return Result("PASS", "cache", f"Redis {shown} answers PING in {_ms(started)}")


async def check_logs(ctx: Context) -> Result:
    """Write one line through structlog and one through the standard library, as the service
    does, and read them back: both must be JSON objects with timestamp, level and event."""
    from catalog.core.logging import configure_logging, get_logger

    configure_logging(ctx.settings.log_level)
    captured = io.StringIO()
    with contextlib.redirect_stdout(captured):
        get_logger("catalog.doctor").critical("doctor_log_probe")
        logging.getLogger("catalog.doctor.stdlib").critical("doctor_log_probe")
    lines = [line for line in captured.getvalue().splitlines() if line.strip()]
    try:
        records = [json.loads(line) for line in lines]
    except ValueError:
        return Result("FAIL", "logs", "log lines are not JSON")
    if len(records) != 2 or not all({"timestamp", "level", "event"} <= set(r) for r in records):
        return Result("FAIL", "logs", f"expected 2 JSON lines on stdout, got {len(records)}")
    level = ctx.settings.log_level
    if ctx.settings.is_production and level == "debug":
        return Result("WARN", "logs", "JSON on stdout; LOG_LEVEL=debug in production is noisy")
    return Result("PASS", "logs", f"JSON lines on stdout, level {level}")


async def check_error_tracking(ctx: Context) -> Result:
    s = ctx.settings
    dsn = s.sentry_dsn.get_secret_value() if s.sentry_dsn else ""
    tracing = " (tracing to OTLP too)" if s.otel_exporter_otlp_endpoint else ""
    if not dsn:
        return Result(
            "WARN", "error_tracking", f"SENTRY_DSN unset: 500s are only in the logs{tracing}"
        )
    try:
        import sentry_sdk.utils
    except ImportError:
        return Result("FAIL", "error_tracking", "SENTRY_DSN set but sentry-sdk is not installed")
    try:
        parsed = sentry_sdk.utils.Dsn(dsn)
    except sentry_sdk.utils.BadDsn as exc:
        return Result("FAIL", "error_tracking", f"SENTRY_DSN is not a valid DSN ({exc})")
    return Result(
        "PASS", "error_tracking", f"Sentry project {parsed.project_id} at {parsed.host}{tracing}"
    )


def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


async def check_search_index(ctx: Context) -> Result:
    """The search index directory can be written, and the index (when one exists) follows the
    change log. No index yet is a warning: `catalog serve` builds one at start."""
    from catalog.changes.repository import ChangeLogRepository
    from catalog.search.directory import IndexDirectory, default_root
    from catalog.search.index import Expected, SearchIndex
    from catalog.search.projector import documents

    root = default_root(ctx.settings).absolute()
    existing = _nearest_existing(root)
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        return Result(
            "FAIL", "search_index", f"{root}: cannot be written (CATALOG_SEARCH_INDEX_DIR)"
        )
    free = f"{shutil.disk_usage(existing).free / 2**30:.1f} GiB free"
    reader = SearchIndex(IndexDirectory(root), Expected.of(ctx.settings))
    snapshot = reader.refresh_now()
    problem = reader.problem
    reader.close()
    if snapshot is None:
        return Result(
            "WARN",
            "search_index",
            f"{root}: no usable index ({problem}); catalog serve builds it at start (search "
            f"answers 503 meanwhile) or run catalog search rebuild; {free}",
        )
    count = documents(snapshot.searcher, snapshot.schema)
    if ctx.database_error is not None:
        return Result("WARN", "search_index", f"{root}: {count} products; lag not checked")
    try:
        async with asyncio.timeout(ctx.timeout_s), ctx.engine.connect() as connection:
            session = AsyncSession(bind=connection)
            pending, _oldest = await ChangeLogRepository(session).pending(snapshot.state.position)
    except Exception as exc:  # migrations behind (no change log yet) or a timeout
        return Result(
            "WARN", "search_index", f"{root}: {count} products; lag unknown ({_error(exc)})"
        )
    if pending:
        return Result(
            "WARN",
            "search_index",
            f"{root}: {count} products, {pending} changes not applied yet (is catalog serve "
            f"running to apply them?); {free}",
        )
    return Result("PASS", "search_index", f"{root}: {count} products, caught up; {free}")


CHECKS: tuple[Callable[[Context], Awaitable[Result]], ...] = (
    check_database,  # first: the database-backed checks below skip when it is down
    check_sqlite_in_production,
    check_migrations,
    check_indexes,
    check_pool,
    check_rate_limits,
    check_trusted_proxies,
    check_auth,
    check_ui_sessions,
    check_alert_sinks,
    check_notifications,
    check_cache,
    check_search_index,
    check_logs,
    check_error_tracking,
)


async def run_checks(settings: Settings, *, replicas: int = 1) -> list[Result]:
    engine = create_engine(settings)
    ctx = Context(settings, engine, replicas=replicas)
    alembic = logging.getLogger("alembic")  # reading the revision logs its plugin setup
    level = alembic.level
    alembic.setLevel(logging.WARNING)
    try:
        return [await check(ctx) for check in CHECKS]
    finally:
        alembic.setLevel(level)
        await engine.dispose()


def as_json(results: list[Result]) -> str:
    return json.dumps([asdict(result) for result in results], indent=2)


def as_lines(results: list[Result]) -> str:
    width = max(len(result.name) for result in results)
    return "\n".join(f"{r.status}  {r.name.ljust(width)}  {r.detail}" for r in results)


def exit_code(results: list[Result]) -> int:
    return 1 if any(result.status == "FAIL" for result in results) else 0
