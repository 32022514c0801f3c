"""Settings: every env name and default of API.md, and production's refusals."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

import pytest

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
