"""Settings: every env name and default of API.md, and production's refusals."""

from __future__ import annotations

import ipaddress
import os
import re
from pathlib import Path

import pytest
from pydantic import SecretStr

from catalog.app import create_app
from catalog.settings import Settings, UnsafeSettingsError
from tests.support.process import run_catalog

API_MD_DEFAULTS = {
    "PORT": ("port", 8084),
    "ENVIRONMENT": ("environment", "development"),
    "LOG_LEVEL": ("log_level", "info"),
    "CATALOG_DATABASE_URL": ("database_url", "sqlite:///./catalog.db"),
    "POSTGRES_MAX_CONNECTIONS": ("postgres_max_connections", 100),
    "REDIS_URL": ("redis_url", None),
    "REDIS_CACHE_TTL": ("redis_cache_ttl", 3600),
    "NEO4J_URI": ("neo4j_uri", None),
    "NEO4J_USERNAME": ("neo4j_username", None),
    "NEO4J_PASSWORD": ("neo4j_password", None),
    "NEO4J_MAX_CONNECTIONS": ("neo4j_max_connections", 50),
    "ENABLE_AUTH": ("enable_auth", False),
    "AUTH_TOKENS_FILE": ("auth_tokens_file", None),
    "JWT_JWKS_URL": ("jwt_jwks_url", None),
    "JWT_ISSUER": ("jwt_issuer", None),
    "JWT_AUDIENCE": ("jwt_audience", None),
    "RATE_LIMIT_ENABLED": ("rate_limit_enabled", True),
    "RATE_LIMIT_GLOBAL_RPS": ("rate_limit_global_rps", 16.67),
    "RATE_LIMIT_GLOBAL_BURST": ("rate_limit_global_burst", 100),
    "RATE_LIMIT_PER_IP_RPS": ("rate_limit_per_ip_rps", 1.67),
    "RATE_LIMIT_BURST": ("rate_limit_burst", 10),
    "TRUSTED_PROXIES": ("trusted_proxies", ()),
    "ALERT_MAX_LATENCY_MS": ("alert_max_latency_ms", 2000),
    "ALERT_ERROR_THRESHOLD": ("alert_error_threshold", 5.0),
    "ALERT_CHECK_INTERVAL_S": ("alert_check_interval_s", 30),
    "ALERT_WEBHOOK_URL": ("alert_webhook_url", None),
    "ALERT_SLACK_WEBHOOK_URL": ("alert_slack_webhook_url", None),
    "ALERT_PAGERDUTY_ROUTING_KEY": ("alert_pagerduty_routing_key", None),
}


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in API_MD_DEFAULTS:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_defaults_are_those_of_api_md(clean_env: pytest.MonkeyPatch) -> None:
    settings = Settings()
    for env_name, (field, default) in API_MD_DEFAULTS.items():
        assert getattr(settings, field) == default, env_name


def test_every_api_md_name_is_read(clean_env: pytest.MonkeyPatch) -> None:
    values = {
        "PORT": "9000",
        "ENVIRONMENT": "production",
        "LOG_LEVEL": "debug",
        "CATALOG_DATABASE_URL": "postgresql://u@h/db",
        "POSTGRES_MAX_CONNECTIONS": "7",
        "REDIS_URL": "redis://r:6379/0",
        "REDIS_CACHE_TTL": "60",
        "NEO4J_URI": "bolt://n:7687",
        "NEO4J_USERNAME": "neo",
        "NEO4J_PASSWORD": "pw",
        "NEO4J_MAX_CONNECTIONS": "5",
        "ENABLE_AUTH": "true",
        "AUTH_TOKENS_FILE": "/etc/catalog/tokens",
        "JWT_JWKS_URL": "https://idp/jwks",
        "JWT_ISSUER": "https://idp",
        "JWT_AUDIENCE": "catalog",
        "RATE_LIMIT_ENABLED": "false",
        "RATE_LIMIT_GLOBAL_RPS": "50",
        "RATE_LIMIT_GLOBAL_BURST": "200",
        "RATE_LIMIT_PER_IP_RPS": "3",
        "RATE_LIMIT_BURST": "4",
        "TRUSTED_PROXIES": "10.0.0.0/8, 192.168.1.7",
        "ALERT_MAX_LATENCY_MS": "900",
        "ALERT_ERROR_THRESHOLD": "2.5",
        "ALERT_CHECK_INTERVAL_S": "10",
        "ALERT_WEBHOOK_URL": "http://hook",
        "ALERT_SLACK_WEBHOOK_URL": "https://slack/x",
        "ALERT_PAGERDUTY_ROUTING_KEY": "rk",
    }
    assert set(values) == set(API_MD_DEFAULTS)
    for name, raw in values.items():
        clean_env.setenv(name, raw)
    settings = Settings()
    for name, (field, default) in API_MD_DEFAULTS.items():
        assert getattr(settings, field) != default, f"{name} was not read"
    assert settings.trusted_proxies == (
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("192.168.1.7/32"),
    )
    assert settings.neo4j_password is not None
    assert settings.neo4j_password.get_secret_value() == "pw"
    assert "pw" not in repr(settings)


def test_bad_values_are_refused(clean_env: pytest.MonkeyPatch) -> None:
    for name, raw in [
        ("PORT", "0"),
        ("TRUSTED_PROXIES", "not-a-cidr"),
        ("CATALOG_DATABASE_URL", "mysql://x"),
        ("ENVIRONMENT", "staging"),
    ]:
        clean_env.setenv(name, raw)
        with pytest.raises(ValueError, match=name):
            Settings()
        clean_env.delenv(name)


def test_production_refuses_sqlite_unless_allowed() -> None:
    settings = Settings(environment="production", database_url="sqlite:///x.db")
    assert settings.unsafe_reasons()
    with pytest.raises(UnsafeSettingsError, match="SQLite"):
        create_app(settings)
    allowed = Settings(
        environment="production",
        database_url="sqlite:///x.db",
        allow_sqlite_in_production=True,
        enable_auth=True,
        jwt_jwks_url="https://idp/jwks",
        jwt_issuer="https://idp/",
        jwt_audience="catalog",
    )
    assert allowed.unsafe_reasons() == []


def test_serve_refuses_unsafe_production_with_exit_code_2(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in API_MD_DEFAULTS}
    env |= {"ENVIRONMENT": "production", "CATALOG_DATABASE_URL": f"sqlite:///{tmp_path}/c.db"}
    result = run_catalog("serve", "--port", "1", env=env, inherit=False)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("refusing to start: SQLite")


def test_invalid_configuration_is_one_line_and_exit_code_2() -> None:
    env = {k: v for k, v in os.environ.items() if k not in API_MD_DEFAULTS} | {"PORT": "http"}
    result = run_catalog("migrate", env=env, inherit=False)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "invalid configuration: PORT: Input should be a valid integer, unable to parse string "
        "as an integer"
    ]


# Every environment name the README's configuration table documents, with a value that is not
# the default. The names follow one rule (`CATALOG_` + the field name in upper case) except the
# explicit ones (API.md's, OpenTelemetry's, Sentry's and one older CATALOG_ name).
EVERY_ENV_NAME: dict[str, tuple[str, str]] = {
    "CATALOG_GRACEFUL_TIMEOUT_S": ("graceful_timeout_s", "45"),
    "PORT": ("port", "9000"),
    "ENVIRONMENT": ("environment", "production"),
    "LOG_LEVEL": ("log_level", "debug"),
    "CATALOG_DATABASE_URL": ("database_url", "postgresql://u@h/db"),
    "POSTGRES_MAX_CONNECTIONS": ("postgres_max_connections", "7"),
    "REDIS_URL": ("redis_url", "redis://r:6379/0"),
    "REDIS_CACHE_TTL": ("redis_cache_ttl", "60"),
    "CATALOG_CACHE_ENABLED": ("cache_enabled", "false"),
    "CATALOG_CACHE_LIST_TTL_S": ("cache_list_ttl_s", "5"),
    "CATALOG_CACHE_MAX_BYTES": ("cache_max_bytes", "2048"),
    "CATALOG_CACHE_REDIS_TIMEOUT_MS": ("cache_redis_timeout_ms", "75"),
    "CATALOG_REDIS_MAX_CONNECTIONS": ("redis_max_connections", "3"),
    "NEO4J_URI": ("neo4j_uri", "bolt://n:7687"),
    "NEO4J_USERNAME": ("neo4j_username", "neo"),
    "NEO4J_PASSWORD": ("neo4j_password", "pw"),
    "NEO4J_MAX_CONNECTIONS": ("neo4j_max_connections", "5"),
    "CATALOG_GRAPH_STORE": ("graph_store", "neo4j"),
    "CATALOG_NEO4J_DATABASE": ("neo4j_database", "graph"),
    "CATALOG_FALKORDB_URL": ("falkordb_url", "redis://f:6379"),
    "CATALOG_FALKORDB_GRAPH": ("falkordb_graph", "g"),
    "CATALOG_GRAPH_TIMEOUT_S": ("graph_timeout_s", "1.5"),
    "CATALOG_GRAPH_OUTBOX_BATCH": ("graph_outbox_batch", "50"),
    "CATALOG_GRAPH_OUTBOX_INTERVAL_S": ("graph_outbox_interval_s", "2"),
    "CATALOG_LINEAGE_APPLY_BATCH": ("lineage_apply_batch", "20"),
    "CATALOG_LINEAGE_APPLY_INTERVAL_S": ("lineage_apply_interval_s", "3"),
    "CATALOG_NOTIFY_ALLOWED_HOSTS": ("notify_allowed_hosts", "hooks.internal, 10.0.0.0/8"),
    "CATALOG_NOTIFY_PUBLIC_URL": ("notify_public_url", "https://catalog.example.com"),
    "CATALOG_NOTIFY_BATCH": ("notify_batch", "50"),
    "CATALOG_NOTIFY_INTERVAL_S": ("notify_interval_s", "2"),
    "CATALOG_NOTIFY_CONCURRENCY": ("notify_concurrency", "64"),
    "CATALOG_NOTIFY_TIMEOUT_S": ("notify_timeout_s", "3"),
    "CATALOG_NOTIFY_MAX_AGE_S": ("notify_max_age_s", "3600"),
    "CATALOG_NOTIFY_LEASE_S": ("notify_lease_s", "40"),
    "CATALOG_NOTIFY_RETENTION_S": ("notify_retention_s", "86400"),
    "CATALOG_NOTIFY_EXPIRING_DAYS": ("notify_expiring_days", "3"),
    "CATALOG_NOTIFY_QUALITY_THRESHOLD": ("notify_quality_threshold", "0.5"),
    "CATALOG_NOTIFY_QUALITY_DROP": ("notify_quality_drop", "0.2"),
    "CATALOG_CHANGE_LOG_RETENTION_S": ("change_log_retention_s", "600"),
    "CATALOG_SEARCH_INDEX_DIR": ("search_index_dir", "/var/lib/catalog/search"),
    "CATALOG_SEARCH_POLL_INTERVAL_S": ("search_poll_interval_s", "1"),
    "CATALOG_SEARCH_BATCH": ("search_batch", "100"),
    "CATALOG_SEARCH_USAGE_INTERVAL_S": ("search_usage_interval_s", "5"),
    "CATALOG_SEARCH_WRITER_MEMORY_MB": ("search_writer_memory_mb", "32"),
    "ENABLE_AUTH": ("enable_auth", "true"),
    "AUTH_TOKENS_FILE": ("auth_tokens_file", "/etc/catalog/tokens"),
    "JWT_JWKS_URL": ("jwt_jwks_url", "https://idp/jwks"),
    "JWT_ISSUER": ("jwt_issuer", "https://idp"),
    "JWT_AUDIENCE": ("jwt_audience", "catalog"),
    "RATE_LIMIT_ENABLED": ("rate_limit_enabled", "false"),
    "RATE_LIMIT_GLOBAL_RPS": ("rate_limit_global_rps", "50"),
    "RATE_LIMIT_GLOBAL_BURST": ("rate_limit_global_burst", "200"),
    "RATE_LIMIT_PER_IP_RPS": ("rate_limit_per_ip_rps", "3"),
    "RATE_LIMIT_BURST": ("rate_limit_burst", "4"),
    "TRUSTED_PROXIES": ("trusted_proxies", "10.0.0.0/8"),
    "ALERT_MAX_LATENCY_MS": ("alert_max_latency_ms", "900"),
    "ALERT_ERROR_THRESHOLD": ("alert_error_threshold", "2.5"),
    "ALERT_CHECK_INTERVAL_S": ("alert_check_interval_s", "10"),
    "ALERT_WEBHOOK_URL": ("alert_webhook_url", "http://hook"),
    "ALERT_SLACK_WEBHOOK_URL": ("alert_slack_webhook_url", "https://slack/x"),
    "ALERT_PAGERDUTY_ROUTING_KEY": ("alert_pagerduty_routing_key", "rk"),
    "CATALOG_ALLOW_SQLITE_IN_PRODUCTION": ("allow_sqlite_in_production", "true"),
    "CATALOG_MAX_BODY_BYTES": ("max_body_bytes", "4096"),
    "CATALOG_MAX_BODY_DRAIN_BYTES": ("max_body_drain_bytes", "0"),
    "CATALOG_MAX_BODY_DRAIN_S": ("max_body_drain_s", "1"),
    "CATALOG_DEPENDENCY_TIMEOUT_S": ("dependency_timeout_s", "0.5"),
    "CATALOG_UNAVAILABLE_RETRY_AFTER_S": ("unavailable_retry_after_s", "9"),
    "CATALOG_DB_POOL_TIMEOUT_S": ("db_pool_timeout_s", "1"),
    "CATALOG_DB_CONNECT_TIMEOUT_S": ("db_connect_timeout_s", "3"),
    "CATALOG_WORKERS": ("workers", "4"),
    "CATALOG_RATE_LIMIT_ENDPOINTS": ("rate_limit_endpoints", '{"GET /api/tags": "60/6"}'),
    "CATALOG_RATE_LIMIT_MAX_KEYS": ("rate_limit_max_keys", "10"),
    "CATALOG_RATE_LIMIT_REDIS_TIMEOUT_MS": ("rate_limit_redis_timeout_ms", "20"),
    "CATALOG_RATE_LIMIT_REDIS_COOLDOWN_S": ("rate_limit_redis_cooldown_s", "1"),
    "CATALOG_MAX_IN_FLIGHT": ("max_in_flight", "8"),
    "CATALOG_REQUEST_TIMEOUT_S": ("request_timeout_s", "3"),
    "CATALOG_ANONYMOUS_ROLE": ("anonymous_role", "viewer"),
    "CATALOG_UI_SESSION_SECRET": ("ui_session_secret", "x" * 40),
    "CATALOG_UI_SESSION_MAX_AGE_S": ("ui_session_max_age_s", "600"),
    "CATALOG_OIDC_CLIENT_ID": ("oidc_client_id", "catalog-ui"),
    "CATALOG_OIDC_CLIENT_SECRET": ("oidc_client_secret", "s3cret"),
    "CATALOG_OIDC_SCOPES": ("oidc_scopes", "openid email"),
    "CATALOG_OIDC_REDIRECT_URI": (
        "oidc_redirect_uri",
        "https://catalog.example.com/ui/oidc/callback",
    ),
    "CATALOG_JWT_ROLE_CLAIM": ("jwt_role_claim", "realm_access.roles"),
    "CATALOG_JWT_TEAM_CLAIM": ("jwt_team_claim", "group"),
    "CATALOG_JWT_ROLE_MAP": ("jwt_role_map", '{"catalog-admins": "admin"}'),
    "CATALOG_JWT_ALGORITHMS": ("jwt_algorithms", '["ES256"]'),
    "CATALOG_JWT_LEEWAY_S": ("jwt_leeway_s", "5"),
    "CATALOG_JWKS_CACHE_TTL_S": ("jwks_cache_ttl_s", "60"),
    "CATALOG_AUTH_FAILURES_PER_MINUTE": ("auth_failures_per_minute", "3"),
    "CATALOG_AUTH_FAILURES_BURST": ("auth_failures_burst", "3"),
    "CATALOG_RATE_LIMIT_PER_PRINCIPAL_RPS": ("rate_limit_per_principal_rps", "2"),
    "CATALOG_RATE_LIMIT_PRINCIPAL_BURST": ("rate_limit_principal_burst", "5"),
    "CATALOG_BULK_MAX_ITEMS": ("bulk_max_items", "100"),
    "CATALOG_LINEAGE_MAX_DEPTH": ("lineage_max_depth", "3"),
    "CATALOG_LINEAGE_MAX_NODES": ("lineage_max_nodes", "100"),
    "CATALOG_QUALITY_METRIC_MAX_SERIES": ("quality_metric_max_series", "10"),
    "OTEL_EXPORTER_OTLP_ENDPOINT": ("otel_exporter_otlp_endpoint", "http://otel:4318"),
    "OTEL_SERVICE_NAME": ("otel_service_name", "catalog-eu"),
    "SENTRY_DSN": ("sentry_dsn", "https://k@sentry/1"),
    "CATALOG_SENTRY_TRACES_SAMPLE_RATE": ("sentry_traces_sample_rate", "0.5"),
    "CATALOG_ALERT_WINDOW_S": ("alert_window_s", "60"),
    "CATALOG_ALERT_MIN_REQUESTS": ("alert_min_requests", "5"),
    "CATALOG_ALERT_REPEAT_INTERVAL_S": ("alert_repeat_interval_s", "60"),
    "CATALOG_ALERT_RATE_LIMITED_PERCENT": ("alert_rate_limited_threshold", "20"),
    "CATALOG_ALERT_SMTP_HOST": ("alert_smtp_host", "smtp.example"),
    "CATALOG_ALERT_SMTP_PORT": ("alert_smtp_port", "25"),
    "CATALOG_ALERT_SMTP_USERNAME": ("alert_smtp_username", "mailer"),
    "CATALOG_ALERT_SMTP_PASSWORD": ("alert_smtp_password", "secret"),
    "CATALOG_ALERT_SMTP_STARTTLS": ("alert_smtp_starttls", "false"),
    "CATALOG_ALERT_EMAIL_FROM": ("alert_email_from", "alerts@example.org"),
    "CATALOG_ALERT_EMAIL_TO": ("alert_email_to", '["ops@example.org"]'),
    "CATALOG_PAGERDUTY_EVENTS_URL": ("pagerduty_events_url", "https://pd.example/enqueue"),
    "CATALOG_SEARCH_WEIGHT_TEXT": ("search_weight_text", "1"),
    "CATALOG_SEARCH_WEIGHT_POPULARITY": ("search_weight_popularity", "0.5"),
    "CATALOG_SEARCH_WEIGHT_QUALITY": ("search_weight_quality", "0.2"),
    "CATALOG_SEARCH_WEIGHT_FRESHNESS": ("search_weight_freshness", "0"),
    "CATALOG_SEARCH_HISTORY_RETENTION_DAYS": ("search_history_retention_days", "0"),
    "CATALOG_SEARCH_HISTORY_QUEUE_SIZE": ("search_history_queue_size", "10"),
    "CATALOG_SEARCH_HISTORY_FLUSH_INTERVAL_S": ("search_history_flush_interval_s", "2"),
    "CATALOG_SEARCH_HISTORY_PRUNE_INTERVAL_S": ("search_history_prune_interval_s", "60"),
    "CATALOG_IDEMPOTENCY_TTL_S": ("idempotency_ttl_s", "60"),
    "CATALOG_IDEMPOTENCY_LOCK_TIMEOUT_S": ("idempotency_lock_timeout_s", "90"),
}
# Names API.md fixes without the prefix, and the standard names: fields with explicit aliases.
UNPREFIXED = {name for name in EVERY_ENV_NAME if not name.startswith("CATALOG_")}


def _readme_env_names() -> set[str]:
    """Every `NAME` in the first column of the README's configuration table."""
    text = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Configuration\n", 1)[1].split("\nProduction refuses", 1)[0]
    return {
        name
        for row in section.splitlines()
        if row.startswith("| `")
        for name in re.findall(r"`([A-Z][A-Z0-9_]*)`", row.split("|")[1])
    }


@pytest.fixture
def no_catalog_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in EVERY_ENV_NAME.keys() | {f"CATALOG_{name}" for name in UNPREFIXED}:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_the_readme_documents_every_setting_under_the_names_tested_here() -> None:
    assert _readme_env_names() == set(EVERY_ENV_NAME)
    assert sorted(field for field, _ in EVERY_ENV_NAME.values()) == sorted(Settings.model_fields)


def test_every_documented_name_sets_its_field(no_catalog_env: pytest.MonkeyPatch) -> None:
    defaults = Settings()
    for name, (_field, raw) in EVERY_ENV_NAME.items():
        no_catalog_env.setenv(name, raw)
    settings = Settings()
    for name, (field, raw) in EVERY_ENV_NAME.items():
        value = getattr(settings, field)
        assert value != getattr(defaults, field), f"{name} did not set {field}"
        if isinstance(value, SecretStr):
            assert value.get_secret_value() == raw, name
    assert settings.jwt_algorithms == ("ES256",)
    assert settings.rate_limit_endpoints == {"GET /api/tags": "60/6"}
    assert settings.alert_rate_limited_threshold == 20.0


def test_each_documented_name_alone_sets_its_field(no_catalog_env: pytest.MonkeyPatch) -> None:
    # One at a time: no name is read for another field. The graph store needs its address.
    companions = {"CATALOG_GRAPH_STORE": {"NEO4J_URI": "bolt://n:7687"}}
    defaults = Settings()
    for name, (field, raw) in EVERY_ENV_NAME.items():
        extra = companions.get(name, {})
        for key, value in {name: raw, **extra}.items():
            no_catalog_env.setenv(key, value)
        settings = Settings()
        changed = {
            other
            for other in Settings.model_fields
            if getattr(settings, other) != getattr(defaults, other)
        }
        expected = {field} | {EVERY_ENV_NAME[key][0] for key in extra}
        assert changed == expected, name
        for key in {name, *extra}:
            no_catalog_env.delenv(key)


def test_names_follow_the_prefix_rule_unless_explicit() -> None:
    for name, (field, _raw) in EVERY_ENV_NAME.items():
        if name in UNPREFIXED or name == "CATALOG_ALERT_RATE_LIMITED_PERCENT":
            continue
        assert name == f"CATALOG_{field.upper()}", name


def test_explicit_names_have_no_prefixed_twin(no_catalog_env: pytest.MonkeyPatch) -> None:
    """`CATALOG_PORT` is not a second name for `PORT`: an explicit name is the only one."""
    defaults = Settings()
    twins = {
        f"CATALOG_{field.upper()}": (field, raw)
        for field, raw in EVERY_ENV_NAME.values()
        if f"CATALOG_{field.upper()}" not in EVERY_ENV_NAME
    }
    assert len(twins) == len(UNPREFIXED) + 1  # and CATALOG_ALERT_RATE_LIMITED_PERCENT's
    for twin, (_field, raw) in twins.items():
        no_catalog_env.setenv(twin, raw)
    settings = Settings()
    for twin, (field, _raw) in twins.items():
        assert getattr(settings, field) == getattr(defaults, field), f"{twin} was read"


def test_invalid_value_names_the_variable(no_catalog_env: pytest.MonkeyPatch) -> None:
    no_catalog_env.setenv("CATALOG_WORKERS", "many")
    with pytest.raises(ValueError, match="CATALOG_WORKERS"):
        Settings()


def test_settings_are_built_from_field_names_too() -> None:
    settings = Settings(database_url="postgresql://u@h/db", port=9001, workers=3)
    assert (settings.database_url, settings.port, settings.workers) == (
        "postgresql://u@h/db",
        9001,
        3,
    )
