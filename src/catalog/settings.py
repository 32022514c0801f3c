"""The service's one configuration object.

One rule names the environment: a field is read from `CATALOG_` + its name in upper case
(`cache_list_ttl_s` <- `CATALOG_CACHE_LIST_TTL_S`). The exceptions are spelled on the field as
explicit aliases: the names API.md fixes (read exactly as written there, no prefix), the
standard OpenTelemetry and Sentry names, and one older name that does not follow the rule.
A field with an explicit alias is read from that name only, never also from `CATALOG_<FIELD>`:
the rule is an alias generator, which an explicit alias replaces, rather than an `env_prefix`,
which pydantic-settings would add beside it (and which would make errors name fields, not
variables). Names are case-sensitive, as they always were. Every name is documented in the
README ("Configuration"), and tests/test_settings.py reads each one.
"""

from __future__ import annotations

import ipaddress
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AliasChoices,
    AliasGenerator,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
DEFAULT_SQLITE_URL = "sqlite:///./catalog.db"
ENV_PREFIX = "CATALOG_"


def _prefixed(field_name: str) -> str:
    """The environment name of a field without an explicit one."""
    return ENV_PREFIX + field_name.upper()


def _env(name: str) -> Any:
    """Bind a field to exactly one environment name (an exception to the prefix rule)."""
    return AliasChoices(name)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        alias_generator=AliasGenerator(validation_alias=_prefixed),
        case_sensitive=True,
        extra="ignore",
        populate_by_name=True,  # Settings(database_url=...) in code and tests
        frozen=True,
    )

    # --- names fixed by API.md -------------------------------------------------------------
    port: int = Field(8084, ge=1, le=65535, validation_alias=_env("PORT"))
    environment: Literal["development", "production"] = Field(
        "development", validation_alias=_env("ENVIRONMENT")
    )
    log_level: Literal["debug", "info", "warning", "error", "critical"] = Field(
        "info", validation_alias=_env("LOG_LEVEL")
    )
    database_url: str = DEFAULT_SQLITE_URL  # CATALOG_DATABASE_URL, by the rule
    postgres_max_connections: int = Field(
        100, ge=1, validation_alias=_env("POSTGRES_MAX_CONNECTIONS")
    )
    redis_url: str | None = Field(None, validation_alias=_env("REDIS_URL"))
    redis_cache_ttl: int = Field(3600, ge=1, validation_alias=_env("REDIS_CACHE_TTL"))
    # The response cache (catalog/cache): REDIS_CACHE_TTL is the lifetime of cached
    # resources (products, elements, the tag tree) in Redis or in process alike.
    cache_enabled: bool = True
    cache_list_ttl_s: int = Field(30, ge=1)
    cache_max_bytes: int = Field(64 * 1024 * 1024, ge=1024)
    redis_max_connections: int = Field(16, ge=1)
    cache_redis_timeout_ms: int = Field(250, ge=1)
    neo4j_uri: str | None = Field(None, validation_alias=_env("NEO4J_URI"))
    neo4j_username: str | None = Field(None, validation_alias=_env("NEO4J_USERNAME"))
    neo4j_password: SecretStr | None = Field(None, validation_alias=_env("NEO4J_PASSWORD"))
    neo4j_max_connections: int = Field(50, ge=1, validation_alias=_env("NEO4J_MAX_CONNECTIONS"))
    # The graph (graph/): `sql` reads the catalog tables; `neo4j` / `falkordb` hold a projection
    # fed through the transactional outbox.
    graph_store: Literal["sql", "neo4j", "falkordb"] = "sql"
    neo4j_database: str | None = None
    falkordb_url: str | None = None
    falkordb_graph: str = Field("catalog", min_length=1, max_length=100)
    graph_timeout_s: float = Field(5.0, gt=0)
    graph_outbox_batch: int = Field(500, ge=1, le=10_000)
    graph_outbox_interval_s: float = Field(0.5, gt=0)
    # OpenLineage events are kept at once and applied to the catalog by a background round
    # (openlineage/applier.py): at most this many per round; this often, when idle.
    lineage_apply_batch: int = Field(200, ge=1, le=10_000)
    lineage_apply_interval_s: float = Field(1.0, gt=0)
    # Notifications (notify/): webhook targets on private, loopback or link-local addresses
    # are refused unless named here (hosts or CIDRs, comma-separated).
    notify_allowed_hosts: Annotated[tuple[str, ...], NoDecode] = ()
    notify_public_url: str = ""  # the UI's address, for the links in events ("" = relative)
    notify_batch: int = Field(200, ge=1, le=10_000)  # deliveries sent per round
    notify_interval_s: float = Field(0.5, gt=0)  # the dispatcher's poll when idle
    notify_concurrency: int = Field(32, ge=1, le=1000)  # sends in flight per process
    notify_timeout_s: float = Field(5.0, gt=0)  # one webhook, Slack or SMTP call
    notify_max_age_s: int = Field(86_400, ge=1)  # retried until the event is this old: dead
    notify_lease_s: float = Field(60.0, gt=0)  # a claimed delivery is another's after this
    notify_retention_s: int = Field(7 * 86_400, ge=60)  # events and deliveries kept (replay)
    notify_expiring_days: int = Field(7, ge=1)  # access_request.expiring, before expires_at
    notify_quality_threshold: float = Field(0.7, ge=0, le=1)  # quality_dropped below this
    notify_quality_drop: float = Field(0.1, gt=0, le=1)  # ... or by at least this much
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
    sentry_traces_sample_rate: float = Field(0.0, ge=0, le=1)

    # --- alert delivery beyond API.md's sinks -----------------------------------------------
    alert_smtp_host: str | None = None
    alert_smtp_port: int = Field(587, ge=1, le=65535)
    alert_smtp_username: str | None = None
    alert_smtp_password: SecretStr | None = None
    alert_smtp_starttls: bool = True
    alert_email_from: str = "catalog@localhost"
    alert_email_to: tuple[str, ...] = ()
    alert_window_s: int = Field(300, ge=1)
    alert_min_requests: int = Field(20, ge=1)
    alert_repeat_interval_s: int = Field(3600, ge=1)
    # Named before the prefix rule; the name stays (it is documented).
    alert_rate_limited_threshold: float = Field(
        10.0, ge=0, validation_alias=_env("CATALOG_ALERT_RATE_LIMITED_PERCENT")
    )
    pagerduty_events_url: str = "https://events.pagerduty.com/v2/enqueue"

    # --- the project's own settings (README, "Configuration") -------------------------------
    allow_sqlite_in_production: bool = False
    max_body_bytes: int = Field(5 * 1024 * 1024, ge=1024)
    # An oversize body up to this size is read and discarded before the 413, for at most
    # `max_body_drain_s`, so clients that write the whole body before reading get the answer
    # instead of a connection reset (server/body_guard.py); 0: never drain.
    max_body_drain_bytes: int = Field(32 * 1024 * 1024, ge=0)
    max_body_drain_s: float = Field(5.0, ge=0)
    dependency_timeout_s: float = Field(2.0, gt=0)
    unavailable_retry_after_s: int = Field(5, ge=1)
    db_pool_timeout_s: float = Field(5.0, gt=0)
    # Opening a PostgreSQL connection forks a backend on the server; a burst of them on a busy
    # host takes longer than a probe or a query should, so it has its own, longer, bound.
    db_connect_timeout_s: float = Field(5.0, gt=0)
    workers: int = Field(1, ge=1)  # `catalog serve`'s processes; each sizes its pool by it
    graceful_timeout_s: int = Field(30, ge=1, le=3600)  # SIGTERM's drain before closing
    rate_limit_endpoints: dict[str, str] = Field(default_factory=dict)
    rate_limit_max_keys: int = Field(100_000, ge=1)
    rate_limit_redis_timeout_ms: int = Field(50, ge=1)
    rate_limit_redis_cooldown_s: float = Field(5.0, ge=0)
    request_timeout_s: float = Field(30.0, gt=0)
    max_in_flight: int = Field(512, ge=1)
    jwt_role_claim: str = "roles"
    jwt_team_claim: str = "team"
    jwt_role_map: dict[str, str] = Field(default_factory=dict)
    jwt_algorithms: tuple[str, ...] = Field(
        ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA")
    )
    jwt_leeway_s: int = Field(30, ge=0, le=300)
    jwks_cache_ttl_s: int = Field(600, ge=1)
    auth_failures_per_minute: float = Field(10.0, gt=0)
    auth_failures_burst: int = Field(10, ge=1)
    rate_limit_per_principal_rps: float | None = Field(None, gt=0)
    rate_limit_principal_burst: int = Field(50, ge=1)
    anonymous_role: Literal["viewer", "editor", "steward", "admin"] = "admin"
    # The web UI's sign-in (server/ui_session.py): the key that signs its cookies (else one
    # kept in a file beside the search index, shared by the workers of one host) and how long
    # a session lasts.
    ui_session_secret: str | None = Field(None, min_length=32)
    ui_session_max_age_s: int = Field(8 * 3600, ge=60, le=30 * 86_400)
    # Signing in to the web UI through the OIDC provider at JWT_ISSUER (ui/oidc.py): on when
    # auth, the issuer, the JWKS and the client id are set. The secret is optional: a public
    # client relies on PKCE alone.
    oidc_client_id: str | None = None
    oidc_client_secret: SecretStr | None = None
    oidc_scopes: str = "openid profile email"
    # The callback URL registered at the provider, when the one built from the request's own
    # URL is not it (behind a proxy that terminates TLS, the request arrives as http://).
    oidc_redirect_uri: str | None = Field(None, pattern=r"^https?://[^/]+.*/ui/oidc/callback$")
    quality_metric_max_series: int = Field(1000, ge=0)
    bulk_max_items: int = Field(1000, ge=1, le=10_000)
    lineage_max_depth: int = Field(10, ge=1, le=50)
    search_weight_text: float = Field(0.7, ge=0)
    search_weight_popularity: float = Field(0.15, ge=0)
    search_weight_quality: float = Field(0.1, ge=0)
    search_weight_freshness: float = Field(0.05, ge=0)
    # The search index (catalog/search/): where it lives and how it follows the change log.
    search_index_dir: Path | None = None
    search_poll_interval_s: float = Field(0.2, gt=0, le=60)
    search_batch: int = Field(2000, ge=1, le=100_000)
    search_usage_interval_s: float = Field(30.0, gt=0)
    search_writer_memory_mb: int = Field(64, ge=16, le=4096)
    change_log_retention_s: int = Field(86_400, ge=60)
    search_history_retention_days: int = Field(90, ge=0)
    search_history_queue_size: int = Field(10_000, ge=1)
    search_history_flush_interval_s: float = Field(0.5, gt=0)
    search_history_prune_interval_s: float = Field(3600, gt=0)
    lineage_max_nodes: int = Field(1000, ge=10)
    idempotency_ttl_s: int = Field(86400, ge=1)
    idempotency_lock_timeout_s: float = Field(60.0, gt=0)

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_networks(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("notify_allowed_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip().lower() for part in value.split(",") if part.strip())
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

    @model_validator(mode="after")
    def _lease_outlasts_a_batch(self) -> Settings:
        """A claimed delivery must still be this worker's when its batch's last send times
        out, or another worker sends it too (notify/dispatcher.py)."""
        longest = -(-self.notify_batch // self.notify_concurrency) * self.notify_timeout_s
        if self.notify_lease_s <= longest:
            raise ValueError(
                f"CATALOG_NOTIFY_LEASE_S ({self.notify_lease_s:g}) must exceed the longest a "
                f"batch can take: CATALOG_NOTIFY_BATCH / CATALOG_NOTIFY_CONCURRENCY rounds of "
                f"CATALOG_NOTIFY_TIMEOUT_S ({longest:g} s)"
            )
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
