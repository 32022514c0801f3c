"""The Helm chart of deploy/helm/catalog, linted and rendered by Helm's own Go SDK.

No `helm` binary is on the test machine's registries; `helm-python-sdk` (PyPI) binds Helm's
official Go SDK (v4) through its C ABI, so `lint` and `render` here are `helm lint --strict`
and `helm template` (offline: no cluster is contacted)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import helm_python as helm
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "catalog"
ADAPTER_VALUES = ROOT / "deploy" / "helm" / "prometheus-adapter-values.yaml"
RELEASE = "prod"
NAMESPACE = "data"

# Every option on: a Secret made by the chart, the tokens file, the ServiceMonitor, the
# ingest CronJob, a NetworkPolicy with named peers.
EVERYTHING: dict[str, Any] = {
    "secret": {
        "values": {
            "CATALOG_DATABASE_URL": "postgresql://catalog:pw@postgres:5432/catalog",
            "CATALOG_UI_SESSION_SECRET": "x" * 40,
        }
    },
    "authTokens": {"existingSecret": "catalog-tokens"},
    "serviceMonitor": {"enabled": True},
    "ingest": {
        "enabled": True,
        "sourceSecret": {"name": "warehouse"},
        "args": ["--schema", "public", "--team", "finance"],
    },
    "networkPolicy": {
        "from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "edge"}}}]
    },
    "config": {"TRUSTED_PROXIES": "10.0.0.0/24"},
}


def render(values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """`helm template prod deploy/helm/catalog -n data`: every manifest, parsed."""
    chart = helm.Chart.load(CHART)
    rendered = chart.render(values or {}, name=RELEASE, namespace=NAMESPACE, is_install=True)
    return [
        document
        for path, text in sorted(rendered.items())
        if path.endswith(".yaml")
        for document in yaml.safe_load_all(text)
        if document
    ]


def lint(values: dict[str, Any] | None = None) -> dict[str, Any]:
    report: dict[str, Any] = helm.lint(CHART, values or {}, strict=True)
    return report


def one(documents: list[dict[str, Any]], kind: str, suffix: str = "") -> dict[str, Any]:
    found = [d for d in documents if d["kind"] == kind and d["metadata"]["name"].endswith(suffix)]
    assert len(found) == 1, f"{len(found)} {kind} named *{suffix}"
    return found[0]
