"""deploy/helm/catalog: lints clean, renders manifests that fit Kubernetes' schemas, and keeps
what the README promises of it (probes, drain, lock-down, migrations first, settings by their
documented names, autoscaling on a metric the service exports)."""

from __future__ import annotations

import copy
import re
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import yaml
from httpx import AsyncClient

from catalog.settings import Settings
from tests.deploy.chart import ADAPTER_VALUES, EVERYTHING, ROOT, lint, one, render
from tests.support.metrics import scrape
from tests.test_settings import _readme_env_names

KUBERNETES = "1.30.0"  # the schemas the manifests are checked against (kubernetes-validate)
OPERATOR_KINDS = {"ServiceMonitor"}  # CRDs: no OpenAPI schema in Kubernetes; checked by hand


@pytest.mark.parametrize("values", [{}, EVERYTHING], ids=["defaults", "everything"])
def test_helm_lint_is_clean(values: dict[str, Any]) -> None:
    report = lint(values)
    assert report["errors"] == []
    assert report["messages"] == [], report["messages"]


@pytest.mark.parametrize("values", [{}, EVERYTHING], ids=["defaults", "everything"])
def test_every_manifest_fits_the_kubernetes_schemas(values: dict[str, Any]) -> None:
    documents = render(values)
    kinds = {d["kind"] for d in documents}
    assert {"Deployment", "Service", "ConfigMap", "Job", "HorizontalPodAutoscaler"} <= kinds
    for document in documents:
        if document["kind"] in OPERATOR_KINDS:
            continue
        kubernetes_validate.validate(document, KUBERNETES, strict=True)


def test_the_schema_check_can_fail() -> None:
    """A misspelt field is refused (strict): the check above is not a formality."""
    deployment = copy.deepcopy(one(render(), "Deployment"))
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGett"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES, strict=True)


def test_pods_are_probed_drained_and_locked_down() -> None:
    documents = render(EVERYTHING)
    deployment = one(documents, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert container["startupProbe"]["httpGet"]["path"] == "/livez"
    assert container["args"][0] == "serve"

    # SIGTERM after the preStop sleep; the drain (CATALOG_GRACEFUL_TIMEOUT_S) must end before
    # Kubernetes kills the container.
    sleep_s = int(container["lifecycle"]["preStop"]["exec"]["command"][1])
    config = one(documents, "ConfigMap", "-env")["data"]
    drain_s = int(config["CATALOG_GRACEFUL_TIMEOUT_S"])
    assert pod["terminationGracePeriodSeconds"] > sleep_s + drain_s

    assert pod["securityContext"]["runAsNonRoot"] is True
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert f"USER {pod['securityContext']['runAsUser']}:" in dockerfile  # the image's own user
    locked = container["securityContext"]
    assert locked["readOnlyRootFilesystem"] is True
    assert locked["allowPrivilegeEscalation"] is False
    assert locked["capabilities"]["drop"] == ["ALL"]
    assert container["resources"]["requests"]["cpu"]
    assert container["resources"]["limits"]["memory"]

    # What the service writes lands on volumes: the index, the workers' metrics files (/tmp).
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert config["CATALOG_SEARCH_INDEX_DIR"].startswith("/var/lib/catalog/")
    assert {"/var/lib/catalog", "/tmp"} <= mounts.keys()
    # The tokens file: a Secret, read-only, not readable by every user (catalog doctor).
    assert config["AUTH_TOKENS_FILE"].startswith("/etc/catalog/tokens/")
    tokens = next(v for v in pod["volumes"] if v["name"] == mounts["/etc/catalog/tokens"])
    assert tokens["secret"]["secretName"] == "catalog-tokens"
    assert tokens["secret"]["defaultMode"] & 0o007 == 0


def test_a_grace_period_shorter_than_the_drain_is_refused() -> None:
    with pytest.raises(helm.HelmError, match="terminationGracePeriodSeconds"):
        render({"terminationGracePeriodSeconds": 30})  # 5 s preStop + 30 s drain


def env_names(container: dict[str, Any]) -> dict[str, str]:
    """What a container's envFrom reads: {"configMapRef": name, "secretRef": name}."""
    return {kind: ref["name"] for entry in container["envFrom"] for kind, ref in entry.items()}


def test_migrations_run_first_with_the_same_configuration() -> None:
    documents = render(EVERYTHING)
    job = one(documents, "Job", "-migrate")
    hook = job["metadata"]["annotations"]
    assert set(hook["helm.sh/hook"].split(",")) == {"pre-install", "pre-upgrade"}
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["migrate"]
    deployment = one(documents, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    job_reads, pods_read = env_names(container), env_names(deployment)
    assert set(job_reads) == set(pods_read) == {"configMapRef", "secretRef"}
    references = (("configMapRef", "ConfigMap", "data"), ("secretRef", "Secret", "stringData"))
    for ref, kind, field in references:
        hook_copy = one(documents, kind, job_reads[ref])
        own = one(documents, kind, pods_read[ref])
        assert hook_copy is not own
        assert hook_copy[field] == own[field]  # the same configuration
        # The copy exists before the Job (a hook of a lower weight) and is deleted once the
        # hooks succeeded; the release's own is a regular resource, which `helm uninstall`
        # deletes (hooks it would leave behind).
        annotations = hook_copy["metadata"]["annotations"]
        assert "pre-install" in annotations["helm.sh/hook"]
        assert int(annotations["helm.sh/hook-weight"]) < int(hook["helm.sh/hook-weight"])
        assert "hook-succeeded" in annotations["helm.sh/hook-delete-policy"].split(",")
        assert "helm.sh/hook" not in own["metadata"].get("annotations", {})


def test_every_other_reader_uses_the_release_own_configuration() -> None:
    documents = render(EVERYTHING)
    deployment = one(documents, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    cron = one(documents, "CronJob", "-ingest")["spec"]["jobTemplate"]["spec"]["template"]
    doctor = one(documents, "Pod", "-doctor")["spec"]["containers"][0]
    for container in (cron["spec"]["containers"][0], doctor):
        assert env_names(container) == env_names(deployment)


def test_an_existing_secret_is_read_as_it_is_and_no_copy_is_left_without_migrations() -> None:
    existing = {"existingSecret": "catalog-secrets"}
    documents = render({"secret": existing, "migrations": {"enabled": False}})
    assert not [d for d in documents if d["kind"] in ("Job", "Secret")]
    (config,) = [d for d in documents if d["kind"] == "ConfigMap"]
    assert "annotations" not in config["metadata"]  # not a hook: uninstall deletes it
    deployment = one(documents, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert env_names(deployment) == {
        "configMapRef": config["metadata"]["name"],
        "secretRef": "catalog-secrets",
    }
    with_job = render({"secret": existing})
    job = one(with_job, "Job", "-migrate")["spec"]["template"]["spec"]["containers"][0]
    assert env_names(job)["secretRef"] == "catalog-secrets"


def test_every_setting_the_chart_sets_is_a_documented_one_and_loads(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    documents = render(EVERYTHING)
    environment = {
        **one(documents, "ConfigMap", "-env")["data"],
        **one(documents, "Secret", "-env")["stringData"],
    }
    assert set(environment) <= _readme_env_names()
    tokens = tmp_path / "tokens"
    tokens.write_text(f"{'ab' * 32} ops admin\n")
    environment["AUTH_TOKENS_FILE"] = str(tokens)  # the mounted Secret, here
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.is_production
    assert settings.unsafe_reasons() == []
    assert settings.workers == 2
    assert [str(n) for n in settings.trusted_proxies] == ["10.0.0.0/24"]


def test_the_autoscaler_reads_what_the_adapter_makes_of_an_exported_metric() -> None:
    documents = render()
    hpa = one(documents, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == one(documents, "Deployment")["metadata"]["name"]
    pods_metric, cpu = hpa["spec"]["metrics"]
    assert cpu["resource"]["name"] == "cpu"  # the fallback
    (rule,) = yaml.safe_load(ADAPTER_VALUES.read_text())["rules"]["custom"]
    assert pods_metric["pods"]["metric"]["name"] == rule["name"]["as"]
    exported = re.match(r"(\w+)\{", rule["seriesQuery"])
    assert exported is not None
    assert re.fullmatch(rule["name"]["matches"], exported.group(1))
    assert rule["resources"]["overrides"].keys() == {"namespace", "pod"}
    assert "replicas" not in one(documents, "Deployment")["spec"]  # the HPA owns the count


async def test_the_adapter_metric_is_one_the_service_exports(client: AsyncClient) -> None:
    """The adapter rule's series exists, with the `endpoint` label its query filters on."""
    (rule,) = yaml.safe_load(ADAPTER_VALUES.read_text())["rules"]["custom"]
    name = rule["seriesQuery"].split("{", 1)[0]
    assert (await client.get("/api/data-products")).status_code == 200
    samples = await scrape(client)
    labelled = [dict(labels) for sample, labels in samples if sample == name]
    assert any(labels.get("endpoint") == "/api/data-products" for labels in labelled)
    assert "/livez" in rule["metricsQuery"]  # probes are not load


def test_the_service_monitor_scrapes_the_service_and_keeps_its_labels() -> None:
    documents = render(EVERYTHING)
    monitor = one(documents, "ServiceMonitor")
    service = one(documents, "Service")
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["path"] == "/metrics"
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert endpoint["honorLabels"] is True  # the metrics' own `endpoint` label stays
    labels = service["metadata"]["labels"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= labels.items()


def test_service_budget_and_policy_select_the_pods() -> None:
    documents = render(EVERYTHING)
    pod_labels = one(documents, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert one(documents, "Service")["spec"]["selector"].items() <= pod_labels.items()
    pdb = one(documents, "PodDisruptionBudget")["spec"]
    assert pdb["selector"]["matchLabels"].items() <= pod_labels.items()
    policy = one(documents, "NetworkPolicy")["spec"]
    assert policy["podSelector"]["matchLabels"].items() <= pod_labels.items()
    (rule,) = policy["ingress"]
    assert rule["ports"] == [{"port": 8084, "protocol": "TCP"}]
    assert rule["from"] == EVERYTHING["networkPolicy"]["from"]


def test_the_ingest_cron_job_and_the_doctor_test() -> None:
    documents = render(EVERYTHING)
    cron = one(documents, "CronJob", "-ingest")
    (container,) = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    assert container["args"][:2] == ["ingest", "$(INGEST_SOURCE_URL)"]
    assert "--schema" in container["args"]
    (source,) = container["env"]
    assert source["valueFrom"]["secretKeyRef"]["name"] == "warehouse"
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"

    doctor = one(documents, "Pod", "-doctor")
    assert doctor["metadata"]["annotations"]["helm.sh/hook"] == "test"
    # The pool check counts the most pods the autoscaler may run.
    args = doctor["spec"]["containers"][0]["args"]
    assert args[:1] == ["doctor"]
    assert args[args.index("--replicas") + 1] == "6"
    assert args[args.index("--workers") + 1] == "2"


@pytest.mark.parametrize(
    ("values", "named"),
    [({"replicaCont": 3}, "replicaCont"), ({"autoscaling": {"cpuUtilization": 170}}, "170")],
)
def test_mistyped_values_are_refused(values: dict[str, Any], named: str) -> None:
    """values.schema.json: a misspelt key or an impossible value stops the render."""
    with pytest.raises(helm.HelmError, match=named):
        render(values)
