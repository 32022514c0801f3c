"""Every command line the deployment files give the image is one the `catalog` command accepts:
the chart's and the compose stack's arguments, checked against the real CLI (with --help
after them: options are parsed, nothing runs), so the files and the CLI cannot drift apart."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.deploy.chart import EVERYTHING, one, render
from tests.support.process import run_catalog

COMPOSE = Path(__file__).resolve().parents[2] / "deploy" / "compose.yaml"


def _chart_commands() -> dict[str, list[str]]:
    documents = render(EVERYTHING)

    def args(kind: str, suffix: str = "") -> list[str]:
        spec = one(documents, kind, suffix)["spec"]
        if kind == "CronJob":
            spec = spec["jobTemplate"]["spec"]
        pod = spec if kind == "Pod" else spec["template"]["spec"]
        found: list[str] = pod["containers"][0]["args"]
        return found

    return {
        "chart deployment": args("Deployment"),
        "chart migration job": args("Job", "-migrate"),
        "chart ingest cron job": args("CronJob", "-ingest"),
        "chart helm test": args("Pod", "-doctor"),
    }


def _compose_commands() -> dict[str, list[str]]:
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    return {f"compose {name}": services[name]["command"] for name in ("catalog", "migrate")}


COMMANDS = {**_chart_commands(), **_compose_commands()}


@pytest.mark.parametrize("where", sorted(COMMANDS))
def test_the_cli_accepts_the_command(where: str) -> None:
    args = COMMANDS[where]
    done = run_catalog(*args, "--help", env={})
    assert done.returncode == 0, f"{where}: catalog {' '.join(args)}\n{done.stderr[-1500:]}"
    assert "Usage:" in done.stdout
