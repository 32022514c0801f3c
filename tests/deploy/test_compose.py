"""deploy/compose.yaml: `docker compose config` clean (Docker Compose v2, which needs no
daemon to render: no container engine runs on the test machine, so nothing is started), and
what the README promises of it: two replicas behind a proxy whose X-Forwarded-For alone is
believed, migrations once before them, a production configuration `catalog doctor` accepts."""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from catalog.db.engine import create_engine, pool_size_for
from catalog.doctor import Context, check_rate_limits, check_trusted_proxies
from catalog.settings import Settings
from tests.support.dns_server import NameServer
from tests.support.process import run_catalog
from tests.support.servers import free_port
from tests.support.wait import until_sync
from tests.test_settings import _readme_env_names

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
ENV_EXAMPLE = DEPLOY / "env.example"
# Where Docker looks for the compose plugin; .ci/run installs it into the first.
PLUGINS = (
    Path("/usr/local/lib/docker/cli-plugins/docker-compose"),
    Path("/usr/libexec/docker/cli-plugins/docker-compose"),
    Path.home() / ".docker/cli-plugins/docker-compose",
)


def docker_compose() -> Path:
    found = next((plugin for plugin in PLUGINS if plugin.is_file()), None)
    assert found, (
        "docker compose v2 missing: .ci/run installs it from Debian's docker-compose package "
        "(trixie) into /usr/local/lib/docker/cli-plugins"
    )
    return found


def compose_config(
    *args: str, env_file: Path | None = ENV_EXAMPLE, file: Path = COMPOSE
) -> subprocess.CompletedProcess[str]:
    """`docker compose config --format json`: the file as Compose reads it (variables and
    profiles resolved, defaults filled in, paths absolute), refused when it is not valid."""
    options = ["--env-file", str(env_file)] if env_file else []
    return subprocess.run(
        [str(docker_compose()), *options, "-f", str(file), *args, "config", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": "/usr/bin:/bin", "HOME": "/tmp"},  # nothing of this shell's leaks in
    )


@pytest.fixture(scope="module")
def stack() -> dict[str, Any]:
    rendered = compose_config()
    assert rendered.returncode == 0, rendered.stderr
    assert rendered.stderr == "", rendered.stderr  # clean: not even a warning
    loaded: dict[str, Any] = json.loads(rendered.stdout)
    return loaded


def test_a_misspelt_key_is_refused(tmp_path: Path) -> None:
    """The check above can fail: Compose validates the file against its specification."""
    broken = tmp_path / "compose.yaml"
    broken.write_text(COMPOSE.read_text().replace("    depends_on:\n", "    depends_onn:\n", 1))
    (tmp_path / "env").write_text(ENV_EXAMPLE.read_text())
    refused = compose_config(env_file=tmp_path / "env", file=broken)
    assert refused.returncode != 0
    assert "depends_onn" in refused.stderr


def test_secrets_must_be_set_before_it_renders() -> None:
    missing = compose_config(env_file=None)
    assert missing.returncode != 0
    assert re.search(
        r"required variable \w+ is missing a value: set \w+ in deploy/.env", missing.stderr
    )


def test_two_replicas_start_after_the_migrations(stack: dict[str, Any]) -> None:
    services = stack["services"]
    catalog, migrate = services["catalog"], services["migrate"]
    assert catalog["deploy"]["replicas"] == 2
    assert catalog["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert catalog["depends_on"]["redis"]["condition"] == "service_healthy"
    assert migrate["command"] == ["migrate"]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert migrate["image"] == catalog["image"]
    assert Path(migrate["build"]["context"]) == ROOT
    assert migrate["build"]["dockerfile"] == "Dockerfile"
    # SIGTERM drains (--graceful-timeout) before compose gives up and kills.
    drain_s = int(catalog["command"][catalog["command"].index("--graceful-timeout") + 1])
    assert int(catalog["stop_grace_period"].rstrip("s")) > drain_s
    for name in ("postgres", "prometheus", "grafana", "alertmanager"):  # data outlives them
        assert any(v["type"] == "volume" for v in services[name]["volumes"]), name


def test_only_the_proxy_is_trusted_and_it_sets_the_client_address(stack: dict[str, Any]) -> None:
    services = stack["services"]
    proxy_address = ipaddress.ip_address(services["proxy"]["networks"]["default"]["ipv4_address"])
    (subnet,) = stack["networks"]["default"]["ipam"]["config"]
    assert proxy_address in ipaddress.ip_network(subnet["subnet"])
    trusted = services["catalog"]["environment"]["TRUSTED_PROXIES"].split(",")
    assert [ipaddress.ip_network(n) for n in trusted] == [ipaddress.ip_network(proxy_address)]
    assert "ports" not in services["catalog"]  # reached only through the proxy

    nginx = (DEPLOY / "proxy" / "nginx.conf").read_text()
    # Replaced, not appended: a client's own X-Forwarded-For never reaches the catalog.
    assert re.search(r"proxy_set_header X-Forwarded-For \$remote_addr;", nginx)
    listen = re.search(r"listen (\d+);", nginx)
    assert listen is not None
    (published,) = services["proxy"]["ports"]
    assert (published["published"], published["target"]) == ("8080", int(listen.group(1)))
    upstream = re.search(r"set \$catalog http://(\w+):(\d+);", nginx)
    assert upstream is not None
    assert upstream.group(1) == "catalog"
    assert services["catalog"]["expose"] == [upstream.group(2)]


def test_nginx_accepts_the_proxy_configuration() -> None:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    assert Path(nginx).exists(), "nginx missing: apt-get install nginx-light (.ci/run does)"
    checked = subprocess.run(
        [nginx, "-t", "-c", str(DEPLOY / "proxy" / "nginx.conf")],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert checked.returncode == 0, checked.stderr
    assert "test is successful" in checked.stderr


async def test_the_catalog_environment_is_a_production_configuration(
    stack: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    environment: dict[str, str] = stack["services"]["catalog"]["environment"]
    assert set(environment) <= _readme_env_names()
    assert environment == stack["services"]["migrate"]["environment"]
    tokens = tmp_path / "tokens"  # the compose secret, here
    tokens.write_text(f"{'ab' * 32} ops admin\n")
    for name, value in {**environment, "AUTH_TOKENS_FILE": str(tokens)}.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.unsafe_reasons() == []
    replicas = stack["services"]["catalog"]["deploy"]["replicas"]
    engine = create_engine(settings)  # never connects: these checks read the settings only
    try:
        context = Context(settings, engine, replicas=replicas)
        assert (await check_trusted_proxies(context)).status == "PASS"
        assert (await check_rate_limits(context)).status == "PASS"
    finally:
        await engine.dispose()
    # Every replica's pool fits PostgreSQL's max_connections (less its 3 reserved ones).
    command = stack["services"]["postgres"]["command"]
    most = int(next(a for a in command if a.startswith("max_connections=")).split("=")[1])
    steady, overflow = pool_size_for(settings)
    assert replicas * settings.workers * (steady + overflow) + 1 <= most - 3  # +1: migrate


def test_every_mounted_file_is_in_the_repository(stack: dict[str, Any]) -> None:
    """Configuration the stack mounts comes from deploy/ (secrets/ is the operator's)."""
    secrets = DEPLOY / "secrets"
    for name, service in stack["services"].items():
        for volume in service.get("volumes", []):
            source = Path(volume["source"])
            if volume["type"] == "bind" and not source.is_relative_to(secrets):
                assert source.is_relative_to(DEPLOY), f"{name} mounts {source}"
                assert source.exists(), f"{name} mounts {source}, missing"
    assert Path(stack["secrets"]["catalog_tokens"]["file"]).is_relative_to(secrets)
    grafana = DEPLOY / "grafana" / "provisioning"
    datasource = yaml.safe_load((grafana / "datasources" / "prometheus.yml").read_text())
    assert datasource["datasources"][0]["url"] == "http://prometheus:9090"
    provider = yaml.safe_load((grafana / "dashboards" / "catalog.yml").read_text())
    (dashboard,) = [
        v for v in stack["services"]["grafana"]["volumes"] if "catalog-dashboard" in v["source"]
    ]
    assert dashboard["target"].startswith(provider["providers"][0]["options"]["path"])


def test_the_graph_profile_adds_neo4j() -> None:
    plain = json.loads(compose_config().stdout)
    assert "neo4j" not in plain["services"]
    graph = compose_config("--profile", "graph")
    assert graph.returncode == 0, graph.stderr
    assert "neo4j" in json.loads(graph.stdout)["services"]


def test_the_proxy_spreads_requests_and_names_the_real_client(tmp_path: Path) -> None:
    """deploy/proxy/nginx.conf run for real in front of two `catalog serve` replicas named
    `catalog` by a stand-in for Docker's DNS (127.0.0.11, as the file expects); only its listen
    port and pid file are moved. A client at 127.0.0.3 sending its own X-Forwarded-For is
    seen by the replicas as 127.0.0.3: the proxy replaced the header, and the replicas believe
    it because TRUSTED_PROXIES names the proxy (here 127.0.0.1)."""
    assert os.geteuid() == 0, "DNS on 127.0.0.11:53 needs root (as in .ci/run)"
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    assert Path(nginx).exists(), "nginx missing: apt-get install nginx-light (.ci/run does)"
    replicas = ["127.0.0.1", "127.0.0.2"]
    env = {
        **os.environ,
        "CATALOG_DATABASE_URL": f"sqlite:///{tmp_path}/catalog.db",
        "TRUSTED_PROXIES": "127.0.0.1",
        "RATE_LIMIT_ENABLED": "false",
        "LOG_LEVEL": "info",
    }
    assert run_catalog("migrate", env=env).returncode == 0
    port = free_port()
    config = (DEPLOY / "proxy" / "nginx.conf").read_text()
    config = config.replace("listen 8080;", f"listen 127.0.0.1:{port};")
    config = config.replace("pid /tmp/nginx.pid;", f"pid {tmp_path}/nginx.pid;")
    (tmp_path / "nginx.conf").write_text(config)
    dns = NameServer({"catalog": replicas}, "127.0.0.11")
    dns.start()
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for address in replicas:
            with (tmp_path / f"{address}.log").open("wb") as log:
                processes.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "catalog", "serve", "--host", address],
                        env={**env, "PORT": "8084"},
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
                )
        for address in replicas:
            livez = f"http://{address}:8084/livez"
            until_sync(partial(_answers, livez), f"{address} up", 30)
        processes.append(
            subprocess.Popen([nginx, "-c", str(tmp_path / "nginx.conf"), "-g", "daemon off;"])
        )
        base = f"http://127.0.0.1:{port}"
        until_sync(lambda: _answers(f"{base}/livez"), "the proxy answering", 30)
        client = httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.3"))
        with client:
            pids = {
                client.get(f"{base}/healthz", headers={"X-Forwarded-For": "6.6.6.6"}).json()["pid"]
                for _ in range(20)
            }
            for _ in range(20):
                spoofed = client.get(f"{base}/api/info", headers={"X-Forwarded-For": "6.6.6.6"})
                assert spoofed.status_code == 200
    finally:
        for process in reversed(processes):
            process.send_signal(signal.SIGTERM)
            process.wait(30)
        dns.stop()
    assert len(pids) == 2, "both replicas should have answered through the proxy"
    seen = [
        json.loads(line)
        for address in replicas
        for line in (tmp_path / f"{address}.log").read_text().splitlines()
        if '"route":"/api/info"' in line
    ]
    assert len(seen) == 20
    assert {line["client"] for line in seen} == {"127.0.0.3"}


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
