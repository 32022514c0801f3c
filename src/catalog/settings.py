"""The service's one configuration object.

The environment names of API.md are read exactly as written there (no prefix). Settings the
contract does not name carry a `CATALOG_` prefix and are documented in the README.
"""

from __future__ import annotations

import ipaddress
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
DEFAULT_SQLITE_URL = "sqlite:///./catalog.db"


def _env(name: str) -> Any:
    """Bind a field to exactly one environment name."""
    return AliasChoices(name)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        case_sensitive=True, extra="ignore", populate_by_name=True, frozen=True
    )

    # --- names fixed by API.md -------------------------------------------------------------
    port: int = Field(8084, ge=1, le=65535, validation_alias=_env("PORT"))
    environment: Literal["development", "production"] = Field(
        "development", validation_alias=_env("ENVIRONMENT")
    )
    log_level: Literal["debug", "info", "warning", "error", "critical"] = Field(
        "info", validation_alias=_env("LOG_LEVEL")
    )
    database_url: str = Field(DEFAULT_SQLITE_URL, validation_alias=_env("CATALOG_DATABASE_URL"))
    postgres_max_connections: int = Field(
        100, ge=1, validation_alias=_env("POSTGRES_MAX_CONNECTIONS")
    )
    redis_url: str | None = Field(None, validation_alias=_env("REDIS_URL"))
    redis_cache_ttl: int = Field(3600, ge=1, validation_alias=_env("REDIS_CACHE_TTL"))
    # The response cache (platform/cache): REDIS_CACHE_TTL is the lifetime of cached
    # resources (products, elements, the tag tree) in Redis or in process alike.
    cache_enabled: bool = Field(True, validation_alias=_env("CATALOG_CACHE_ENABLED"))
    cache_list_ttl_s: int = Field(30, ge=1, validation_alias=_env("CATALOG_CACHE_LIST_TTL_S"))
    cache_max_bytes: int = Field(
        64 * 1024 * 1024, ge=1024, validation_alias=_env("CATALOG_CACHE_MAX_BYTES")
    )
    redis_max_connections: int = Field(
        16, ge=1, validation_alias=_env("CATALOG_REDIS_MAX_CONNECTIONS")
    )
    cache_redis_timeout_ms: int = Field(
        250, ge=1, validation_alias=_env("CATALOG_CACHE_REDIS_TIMEOUT_MS")
    )
    neo4j_uri: str | None = Field(None, validation_alias=_env("NEO4J_URI"))
    neo4j_username: str | None = Field(None, validation_alias=_env("NEO4J_USERNAME"))
    neo4j_password: SecretStr | None = Field(None, validation_alias=_env("NEO4J_PASSWORD"))
    neo4j_max_connections: int = Field(50, ge=1, validation_alias=_env("NEO4J_MAX_CONNECTIONS"))
    # The graph (graph/): `sql` reads the catalog tables; `neo4j` / `falkordb` hold a projection
    # fed through the transactional outbox.
    graph_store: Literal["sql", "neo4j", "falkordb"] = Field(
        "sql", validation_alias=_env("CATALOG_GRAPH_STORE")
    )
    neo4j_database: str | None = Field(None, validation_alias=_env("CATALOG_NEO4J_DATABASE"))
    falkordb_url: str | None = Field(None, validation_alias=_env("CATALOG_FALKORDB_URL"))
    falkordb_graph: str = Field(
        "catalog", min_length=1, max_length=100, validation_alias=_env("CATALOG_FALKORDB_GRAPH")
    )
    graph_timeout_s: float = Field(5.0, gt=0, validation_alias=_env("CATALOG_GRAPH_TIMEOUT_S"))
    graph_outbox_batch: int = Field(
        500, ge=1, le=10_000, validation_alias=_env("CATALOG_GRAPH_OUTBOX_BATCH")
    )
    graph_outbox_interval_s: float = Field(
        0.5, gt=0, validation_alias=_env("CATALOG_GRAPH_OUTBOX_INTERVAL_S")
    )
    enable_auth: bool = Field(False, validation_alias=_env("ENABLE_AUTH"))
    auth_tokens_file: Path | None = Field(None, validation_alias=_env("AUTH_TOKENS_FILE"))
    jwt_jwks_url: str | None = Field(None, validation_alias=_env("JWT_JWKS_URL"))
    jwt_issuer: str | None = Field(None, validation_alias=_env("JWT_ISSUER"))
    jwt_audience: str | None = Field(None, validation_alias=_env("JWT_AUDIENCE"))
    rate_limit_enabled: bool = Field(True, validation_alias=_env("RATE_LIMIT_ENABLED"))
    rate_limit_global_rps: float = Field(
        16.67, gt=0, validation_alias=_env("RATE_LIMIT_GLOBAL_RPS")
    )
    rate_limit_global_burst: int = Field(
        100, ge=1, validation_alias=_env("RATE_LIMIT_GLOBAL_BURST")
    )
    rate_limit_per_ip_rps: float = Field(1.67, gt=0, validation_alias=_env("RATE_LIMIT_PER_IP_RPS"))
    rate_limit_burst: int = Field(10, ge=1, validation_alias=_env("RATE_LIMIT_BURST"))
    trusted_proxies: Annotated[tuple[IPNetwork, ...], NoDecode] = Field(
        (), validation_alias=_env("TRUSTED_PROXIES")
    )
    alert_max_latency_ms: int = Field(2000, ge=1, validation_alias=_env("ALERT_MAX_LATENCY_MS"))
    alert_error_threshold: float = Field(
        5.0, ge=0, le=100, validation_alias=_env("ALERT_ERROR_THRESHOLD")
    )
    alert_check_interval_s: int = Field(30, ge=1, validation_alias=_env("ALERT_CHECK_INTERVAL_S"))
    alert_webhook_url: str | None = Field(None, validation_alias=_env("ALERT_WEBHOOK_URL"))
    alert_slack_webhook_url: SecretStr | None = Field(
        None, validation_alias=_env("ALERT_SLACK_WEBHOOK_URL")
    )
    alert_pagerduty_routing_key: SecretStr | None = Field(
        None, validation_alias=_env("ALERT_PAGERDUTY_ROUTING_KEY")
    )

    # --- tracing and error tracking (standard OpenTelemetry / Sentry names) ---------------
    otel_exporter_otlp_endpoint: str | None = Field(
        None, validation_alias=_env("OTEL_EXPORTER_OTLP_ENDPOINT")
    )
    otel_service_name: str = Field("catalog", validation_alias=_env("OTEL_SERVICE_NAME"))
    sentry_dsn: SecretStr | None = Field(None, validation_alias=_env("SENTRY_DSN"))
    sentry_traces_sample_rate: float = Field(
        0.0, ge=0, le=1, validation_alias=_env("CATALOG_SENTRY_TRACES_SAMPLE_RATE")
    )

    # --- alert delivery beyond API.md's sinks -----------------------------------------------
    alert_smtp_host: str | None = Field(None, validation_alias=_env("CATALOG_ALERT_SMTP_HOST"))
    alert_smtp_port: int = Field(
        587, ge=1, le=65535, validation_alias=_env("CATALOG_ALERT_SMTP_PORT")
    )
    alert_smtp_username: str | None = Field(
        None, validation_alias=_env("CATALOG_ALERT_SMTP_USERNAME")
    )
    alert_smtp_password: SecretStr | None = Field(
        None, validation_alias=_env("CATALOG_ALERT_SMTP_PASSWORD")
    )
    alert_smtp_starttls: bool = Field(True, validation_alias=_env("CATALOG_ALERT_SMTP_STARTTLS"))
    alert_email_from: str = Field(
        "catalog@localhost", validation_alias=_env("CATALOG_ALERT_EMAIL_FROM")
    )
    alert_email_to: tuple[str, ...] = Field((), validation_alias=_env("CATALOG_ALERT_EMAIL_TO"))
    alert_window_s: int = Field(300, ge=1, validation_alias=_env("CATALOG_ALERT_WINDOW_S"))
    alert_min_requests: int = Field(20, ge=1, validation_alias=_env("CATALOG_ALERT_MIN_REQUESTS"))
    alert_repeat_interval_s: int = Field(
        3600, ge=1, validation_alias=_env("CATALOG_ALERT_REPEAT_INTERVAL_S")
    )
    alert_rate_limited_threshold: float = Field(
        10.0, ge=0, validation_alias=_env("CATALOG_ALERT_RATE_LIMITED_PERCENT")
    )
    pagerduty_events_url: str = Field(
        "https://events.pagerduty.com/v2/enqueue",
        validation_alias=_env("CATALOG_PAGERDUTY_EVENTS_URL"),
    )

    # --- the project's own settings (README, "Configuration") -------------------------------
    allow_sqlite_in_production: bool = Field(
        False, validation_alias=_env("CATALOG_ALLOW_SQLITE_IN_PRODUCTION")
    )
    max_body_bytes: int = Field(
        5 * 1024 * 1024, ge=1024, validation_alias=_env("CATALOG_MAX_BODY_BYTES")
    )
    # An oversize body up to this size is read and discarded before the 413, for at most
    # `max_body_drain_s`, so clients that write the whole body before reading get the answer
    # instead of a connection reset (platform/body_guard.py); 0: never drain.
    max_body_drain_bytes: int = Field(
        32 * 1024 * 1024, ge=0, validation_alias=_env("CATALOG_MAX_BODY_DRAIN_BYTES")
    )
    max_body_drain_s: float = Field(5.0, ge=0, validation_alias=_env("CATALOG_MAX_BODY_DRAIN_S"))
    dependency_timeout_s: float = Field(
        2.0, gt=0, validation_alias=_env("CATALOG_DEPENDENCY_TIMEOUT_S")
    )
    unavailable_retry_after_s: int = Field(
        5, ge=1, validation_alias=_env("CATALOG_UNAVAILABLE_RETRY_AFTER_S")
    )
    db_pool_timeout_s: float = Field(5.0, gt=0, validation_alias=_env("CATALOG_DB_POOL_TIMEOUT_S"))
    workers: int = Field(1, ge=1, validation_alias=_env("CATALOG_WORKERS"))
    rate_limit_endpoints: dict[str, str] = Field(
        default_factory=dict, validation_alias=_env("CATALOG_RATE_LIMIT_ENDPOINTS")
    )
    rate_limit_max_keys: int = Field(
        100_000, ge=1, validation_alias=_env("CATALOG_RATE_LIMIT_MAX_KEYS")
    )
    rate_limit_redis_timeout_ms: int = Field(
        50, ge=1, validation_alias=_env("CATALOG_RATE_LIMIT_REDIS_TIMEOUT_MS")
    )
    rate_limit_redis_cooldown_s: float = Field(
        5.0, ge=0, validation_alias=_env("CATALOG_RATE_LIMIT_REDIS_COOLDOWN_S")
    )
    request_timeout_s: float = Field(30.0, gt=0, validation_alias=_env("CATALOG_REQUEST_TIMEOUT_S"))
    max_in_flight: int = Field(512, ge=1, validation_alias=_env("CATALOG_MAX_IN_FLIGHT"))
    jwt_role_claim: str = Field("roles", validation_alias=_env("CATALOG_JWT_ROLE_CLAIM"))
    jwt_team_claim: str = Field("team", validation_alias=_env("CATALOG_JWT_TEAM_CLAIM"))
    jwt_role_map: dict[str, str] = Field(
        default_factory=dict, validation_alias=_env("CATALOG_JWT_ROLE_MAP")
    )
    jwt_algorithms: tuple[str, ...] = Field(
        ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"),
        validation_alias=_env("CATALOG_JWT_ALGORITHMS"),
    )
    jwt_leeway_s: int = Field(30, ge=0, le=300, validation_alias=_env("CATALOG_JWT_LEEWAY_S"))
    jwks_cache_ttl_s: int = Field(600, ge=1, validation_alias=_env("CATALOG_JWKS_CACHE_TTL_S"))
    auth_failures_per_minute: float = Field(
        10.0, gt=0, validation_alias=_env("CATALOG_AUTH_FAILURES_PER_MINUTE")
    )
    auth_failures_burst: int = Field(10, ge=1, validation_alias=_env("CATALOG_AUTH_FAILURES_BURST"))
    rate_limit_per_principal_rps: float | None = Field(
        None, gt=0, validation_alias=_env("CATALOG_RATE_LIMIT_PER_PRINCIPAL_RPS")
    )
    rate_limit_principal_burst: int = Field(
        50, ge=1, validation_alias=_env("CATALOG_RATE_LIMIT_PRINCIPAL_BURST")
    )
    anonymous_role: Literal["viewer", "editor", "steward", "admin"] = Field(
        "admin", validation_alias=_env("CATALOG_ANONYMOUS_ROLE")
    )
    quality_metric_max_series: int = Field(
        1000, ge=0, validation_alias=_env("CATALOG_QUALITY_METRIC_MAX_SERIES")
    )
    bulk_max_items: int = Field(
        1000, ge=1, le=10_000, validation_alias=_env("CATALOG_BULK_MAX_ITEMS")
    )
    lineage_max_depth: int = Field(
        10, ge=1, le=50, validation_alias=_env("CATALOG_LINEAGE_MAX_DEPTH")
    )
    search_weight_text: float = Field(
        0.7, ge=0, validation_alias=_env("CATALOG_SEARCH_WEIGHT_TEXT")
    )
    search_weight_popularity: float = Field(
        0.15, ge=0, validation_alias=_env("CATALOG_SEARCH_WEIGHT_POPULARITY")
    )
    search_weight_quality: float = Field(
        0.1, ge=0, validation_alias=_env("CATALOG_SEARCH_WEIGHT_QUALITY")
    )
    search_weight_freshness: float = Field(
        0.05, ge=0, validation_alias=_env("CATALOG_SEARCH_WEIGHT_FRESHNESS")
    )
    # The search index (catalog/search/): where it lives and how it follows the change log.
    search_index_dir: Path | None = Field(None, validation_alias=_env("CATALOG_SEARCH_INDEX_DIR"))
    search_poll_interval_s: float = Field(
        0.2, gt=0, le=60, validation_alias=_env("CATALOG_SEARCH_POLL_INTERVAL_S")
    )
    search_batch: int = Field(2000, ge=1, le=100_000, validation_alias=_env("CATALOG_SEARCH_BATCH"))
    search_usage_interval_s: float = Field(
        30.0, gt=0, validation_alias=_env("CATALOG_SEARCH_USAGE_INTERVAL_S")
    )
    search_writer_memory_mb: int = Field(
        64, ge=16, le=4096, validation_alias=_env("CATALOG_SEARCH_WRITER_MEMORY_MB")
    )
    change_log_retention_s: int = Field(
        86_400, ge=60, validation_alias=_env("CATALOG_CHANGE_LOG_RETENTION_S")
    )
    search_history_retention_days: int = Field(
        90, ge=0, validation_alias=_env("CATALOG_SEARCH_HISTORY_RETENTION_DAYS")
    )
    search_history_queue_size: int = Field(
        10_000, ge=1, validation_alias=_env("CATALOG_SEARCH_HISTORY_QUEUE_SIZE")
    )
    search_history_flush_interval_s: float = Field(
        0.5, gt=0, validation_alias=_env("CATALOG_SEARCH_HISTORY_FLUSH_INTERVAL_S")
    )
    search_history_prune_interval_s: float = Field(
        3600, gt=0, validation_alias=_env("CATALOG_SEARCH_HISTORY_PRUNE_INTERVAL_S")
    )
    lineage_max_nodes: int = Field(1000, ge=10, validation_alias=_env("CATALOG_LINEAGE_MAX_NODES"))
    idempotency_ttl_s: int = Field(86400, ge=1, validation_alias=_env("CATALOG_IDEMPOTENCY_TTL_S"))
    idempotency_lock_timeout_s: float = Field(
        60.0, gt=0, validation_alias=_env("CATALOG_IDEMPOTENCY_LOCK_TIMEOUT_S")
    )

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_networks(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("trusted_proxies", mode="after")
    @classmethod
    def _strict_networks(cls, value: tuple[IPNetwork, ...]) -> tuple[IPNetwork, ...]:
        return tuple(ipaddress.ip_network(net, strict=False) for net in value)

    @field_validator("rate_limit_endpoints")
    @classmethod
    def _endpoint_limits(cls, value: dict[str, str]) -> dict[str, str]:
        for name, limit in value.items():
            method, _, path = name.partition(" ")
            per_minute, _, burst = limit.partition("/")
            try:
                valid = float(per_minute) > 0 and int(burst) >= 1 and path.startswith("/")
            except ValueError:
                valid = False
            if not valid or method.upper() != method:
                raise ValueError(
                    f'entries look like {{"GET /api/discover/search": "200/20"}} '
                    f"(METHOD path: per_minute/burst); got {name!r}: {limit!r}"
                )
        return value

    @model_validator(mode="after")
    def _graph_store_has_its_address(self) -> Settings:
        if self.graph_store == "neo4j" and not self.neo4j_uri:
            raise ValueError("CATALOG_GRAPH_STORE=neo4j needs NEO4J_URI")
        if self.graph_store == "falkordb" and not self.falkordb_url:
            raise ValueError("CATALOG_GRAPH_STORE=falkordb needs CATALOG_FALKORDB_URL")
        return self

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        scheme = value.split(":", 1)[0].split("+", 1)[0]
        if scheme not in {"sqlite", "postgresql", "postgres"}:
            raise ValueError("CATALOG_DATABASE_URL must start with postgresql:// or sqlite:///")
        return value

    @cached_property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    def unsafe_reasons(self) -> list[str]:
        """Why this configuration must not serve production traffic (empty when it may)."""
        if not self.is_production:
            return []
        reasons: list[str] = []
        if self.is_sqlite and not self.allow_sqlite_in_production:
            reasons.append(
                "SQLite is the embedded development database; set CATALOG_DATABASE_URL to "
                "PostgreSQL or CATALOG_ALLOW_SQLITE_IN_PRODUCTION=true"
            )
        if not self.enable_auth:
            reasons.append("ENABLE_AUTH=false: production requires authentication")
        elif self.auth_tokens_file is None and self.jwt_jwks_url is None:
            reasons.append(
                "no credential source: set AUTH_TOKENS_FILE and/or JWT_JWKS_URL "
                "(API keys are created by an admin who must first sign in with one of them)"
            )
        if self.auth_tokens_file is not None and not self.auth_tokens_file.is_file():
            reasons.append(f"AUTH_TOKENS_FILE {self.auth_tokens_file} cannot be read")
        elif self.auth_tokens_file is not None and _lists_dev_token(self.auth_tokens_file):
            reasons.append(f"{self.auth_tokens_file} contains the development token test-token")
        if self.jwt_jwks_url is not None and not (self.jwt_issuer and self.jwt_audience):
            reasons.append("JWT_JWKS_URL is set without JWT_ISSUER and JWT_AUDIENCE")
        return reasons


def _lists_dev_token(path: Path) -> bool:
    import hashlib

    dev = hashlib.sha256(b"test-token").hexdigest()
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return False
    return any(line.split()[:1] == [dev] for line in lines)


class UnsafeSettingsError(RuntimeError):
    """Raised at start-up when production settings are unsafe."""
