"""The monitoring deployment files: Prometheus rules and config, Alertmanager, Grafana.

Two layers:
- Python checks, always run: the YAML and JSON parse; every rule and alert has the fields
  operators rely on (severity, summary, description, a runbook that resolves in the README);
  every expression parses as PromQL (promql-parser, the Rust parser's Python binding); every
  metric name, label matcher and grouping label refers to what the service registers (read
  from the prometheus_client registry after building the app), to a metric a later feature
  adds (`PENDING_METRICS`), to a series Prometheus or the blackbox exporter makes
  (`EXTERNAL_METRICS`), or to a recording rule of alerts.yml. A typo fails here.
- The real tools, when installed (`apt-get install prometheus prometheus-alertmanager
  prometheus-blackbox-exporter`): `promtool check rules|config`, `promtool test rules` with
  unit tests that feed series and expect (or not) each alert, `amtool check-config`, and the
  blackbox exporter's `--config.check`. Skipped, with the reason, where a binary is missing.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import promql_parser as promql
import pytest
import yaml
from prometheus_client import REGISTRY

from catalog.app import create_app
from catalog.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"
RULES = PROMETHEUS_DIR / "alerts.yml"
PROMETHEUS_CONFIG = PROMETHEUS_DIR / "prometheus.yml"
BLACKBOX_CONFIG = PROMETHEUS_DIR / "blackbox.yml"
ALERTMANAGER_CONFIG = ROOT / "deploy" / "alertmanager" / "alertmanager.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "catalog-dashboard.json"
README = ROOT / "README.md"
DOC = ROOT / "docs" / "monitoring-deploy.md"

SEVERITIES = frozenset({"page", "ticket"})
REQUIRED_ANNOTATIONS = ("summary", "description", "runbook")
# Labels Prometheus attaches to every scraped series.
TARGET_LABELS = frozenset({"job", "instance"})


@dataclass(frozen=True)
class Metric:
    kind: str  # counter, gauge, histogram, summary, info, ...
    labels: frozenset[str]


# Metrics that features being built now, or later, will register. Named here so dashboards and
# rules can be ready for them; each entry goes once the service registers the metric (the
# registered definition wins, and must agree with the kind declared here).
PENDING_METRICS: dict[str, Metric] = {
    "catalog_cache_hits_total": Metric("counter", frozenset({"cache"})),
    "catalog_cache_misses_total": Metric("counter", frozenset({"cache"})),
    "catalog_graph_outbox_pending": Metric("gauge", frozenset()),
}

# Series made by Prometheus itself (`up`, `ALERTS`) and by the blackbox exporter's probe.
EXTERNAL_METRICS: dict[str, Metric] = {
    "up": Metric("gauge", frozenset()),
    "ALERTS": Metric("gauge", frozenset({"alertname", "alertstate", "severity", "slo"})),
    "probe_success": Metric("gauge", frozenset()),
    "probe_duration_seconds": Metric("gauge", frozenset()),
    "probe_http_status_code": Metric("gauge", frozenset()),
}

SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_sum", "_count"),
    "summary": ("", "_sum", "_count"),
    "gauge": ("",),
    "info": ("_info",),
    "stateset": ("",),
    "gaugehistogram": ("_bucket", "_gsum", "_gcount"),
    "unknown": ("",),
}
# Sample suffixes that are counters: what rate()/increase() may be applied to.
COUNTER_SAMPLES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count")}
RATE_FUNCTIONS = frozenset({"rate", "irate", "increase", "resets"})

# Every alert the brief asks for; removing one fails the suite.
REQUIRED_ALERTS = frozenset(
    {
        "CatalogDown",
        "CatalogInstanceDown",
        "CatalogNotReady",
        "CatalogErrorBudgetBurnFast",
        "CatalogErrorBudgetBurnSlow",
        "CatalogHighLatency",
        "CatalogEndpointHighLatency",
        "CatalogServerErrors",
        "CatalogRateLimitStorm",
        "CatalogRateLimitRefusalsByScope",
        "CatalogRateLimitRedisFallback",
        "CatalogLoadShedding",
        "CatalogAuthFailureSpike",
        "CatalogCircuitBreakerOpen",
        "CatalogDatabasePoolSaturated",
        "CatalogAlertDeliveryFailing",
    }
)

# Metrics the dashboard must show (the brief's list).
DASHBOARD_METRICS = frozenset(
    {
        "catalog_requests_total",
        "catalog_request_duration_seconds_bucket",
        "catalog_rate_limited_total",
        "catalog_rate_limit_redis_fallback_total",
        "catalog_rate_limit_backend",
        "catalog_in_flight_requests",
        "catalog_load_shed_total",
        "catalog_request_timeouts_total",
        "catalog_auth_failures_total",
        "catalog_search_history_pending",
        "catalog_data_element_quality_score",
        "catalog_alerts_total",
        "catalog_db_pool_size",
        "catalog_db_pool_checked_out",
        "catalog_db_pool_overflow",
        "catalog_db_pool_waiters",
        "catalog_circuit_breaker_state",
        "catalog_cache_hits_total",
        "catalog_cache_misses_total",
        "catalog_neo4j_query_duration_seconds_bucket",
        "catalog_neo4j_connection_pool_size",
        "catalog_alert_deliveries_total",
        "catalog_circuit_breaker_rejected_total",
        "catalog_graph_outbox_pending",
    }
)

GRAFANA_BUILTINS = frozenset(
    {"__rate_interval", "__interval", "__interval_ms", "__range", "__range_s", "__range_ms"}
)
GRAFANA_VARIABLE = re.compile(r"\$(?:\{(\w+)(?::\w+)?\}|(\w+))")


# --------------------------------------------------------------------------- what is known


def _registered_metrics() -> dict[str, Metric]:
    """Families of the default registry, by family name, with their label names.

    Label names come from the collectors: a labelled metric nobody has observed yet has no
    sample to read them from. prometheus_client keeps them in `_labelnames` (stable since
    0.4); a collector without it (process, platform, gc) contributes its samples' labels.
    """
    labels_of: dict[str, frozenset[str]] = {}
    for collector, names in REGISTRY._collector_to_names.items():
        declared = getattr(collector, "_labelnames", None)
        if declared is not None:
            for name in names:
                labels_of[name] = frozenset(declared)
    metrics: dict[str, Metric] = {}
    for family in REGISTRY.collect():
        sampled = frozenset(k for s in family.samples for k in s.labels if k != "le")
        metrics[family.name] = Metric(family.type, labels_of.get(family.name, sampled))
    return metrics


def _sample_names(families: dict[str, Metric]) -> dict[str, tuple[Metric, str]]:
    """Every series name a family exposes -> (family, suffix)."""
    names: dict[str, tuple[Metric, str]] = {}
    for family, metric in families.items():
        base = family
        if metric.kind == "counter":
            base = family.removesuffix("_total")
        elif metric.kind in ("histogram", "gaugehistogram"):
            base = family.removesuffix("_bucket")
        for suffix in SUFFIXES.get(metric.kind, ("",)):
            names[base + suffix] = (metric, suffix)
    return names


@dataclass
class Known:
    series: dict[str, tuple[Metric, str]]
    registered: dict[str, Metric]
    recorded: dict[str, Metric]


@pytest.fixture(scope="module")
def rules() -> dict[str, Any]:
    loaded = yaml.safe_load(RULES.read_text())
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    loaded = json.loads(DASHBOARD.read_text())
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture(scope="module")
def known(rules: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Known:
    # Building the app imports every router, and with them every module defining metrics.
    database = tmp_path_factory.mktemp("monitoring") / "unused.db"
    create_app(Settings(database_url=f"sqlite:///{database}", rate_limit_enabled=False))
    registered = _registered_metrics()
    pending = {
        name: metric
        for name, metric in PENDING_METRICS.items()
        if _family_name(name, metric) not in registered
    }
    recorded = {
        rule["record"]: Metric("gauge", _level_labels(rule["record"]))
        for rule in _all_rules(rules)
        if "record" in rule
    }
    series = _sample_names(registered)
    series.update(_sample_names(pending))
    series.update(_sample_names(EXTERNAL_METRICS))
    series.update(_sample_names(recorded))
    return Known(series=series, registered=registered, recorded=recorded)


def _family_name(name: str, metric: Metric) -> str:
    """prometheus_client names counter families without `_total`."""
    return name.removesuffix("_total") if metric.kind == "counter" else name


def _level_labels(record: str) -> frozenset[str]:
    """`job_endpoint:metric:operation` keeps the labels job and endpoint (naming convention)."""
    level = record.split(":", 1)[0]
    return frozenset(level.split("_")) if level else frozenset()


def _all_rules(rules: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for group in rules["groups"]:
        yield from group["rules"]


def _alerts(rules: dict[str, Any]) -> list[dict[str, Any]]:
    return [rule for rule in _all_rules(rules) if "alert" in rule]


# --------------------------------------------------------------------------- PromQL checks


def _walk(expr: Any) -> list[Any]:
    nodes: list[Any] = []
    promql.walk(expr, lambda node: nodes.append(node))
    return nodes


def _label_replace_targets(nodes: list[Any]) -> set[str]:
    made: set[str] = set()
    for node in nodes:
        if isinstance(node, promql.Call) and node.func.name in ("label_replace", "label_join"):
            made.add(node.args[1].val)
    return made


def check_promql(expr_text: str, known: Known, where: str) -> set[str]:
    """Parse one expression and check its names and labels; returns the series names used."""
    try:
        expr = promql.parse(expr_text)
    except ValueError as exc:
        pytest.fail(f"{where}: does not parse as PromQL: {exc}\n{expr_text}")
    nodes = _walk(expr)
    used: set[str] = set()
    available = set(TARGET_LABELS) | _label_replace_targets(nodes)
    selectors = [node for node in nodes if isinstance(node, promql.VectorSelector)]
    assert selectors, f"{where}: selects no series: {expr_text}"
    for selector in selectors:
        name = selector.name
        assert name, f"{where}: a selector without a metric name: {expr_text}"
        used.add(name)
        found = known.series.get(name)
        assert found is not None, (
            f"{where}: `{name}` is neither registered by the service, nor a recording rule, nor "
            "in PENDING_METRICS/EXTERNAL_METRICS (typo?)"
        )
        metric, suffix = found
        labels = set(metric.labels) | TARGET_LABELS | ({"le"} if suffix == "_bucket" else set())
        if name in EXTERNAL_METRICS:
            labels |= {"job", "instance"}
        for matcher in selector.matchers.matchers:
            assert matcher.name in labels, (
                f"{where}: `{name}` has no label `{matcher.name}` (it has {sorted(labels)})"
            )
        available |= labels
    for node in nodes:
        grouping: list[str] = []
        if isinstance(node, promql.AggregateExpr) and node.modifier is not None:
            grouping = list(node.modifier.labels)
        elif isinstance(node, promql.BinaryExpr) and node.modifier is not None:
            matching = node.modifier.matching
            grouping = list(matching.labels) if matching is not None else []
            grouping += list(node.modifier.group_labels or [])
        unknown = set(grouping) - available
        assert not unknown, f"{where}: groups or matches on unknown labels {sorted(unknown)}"
        if isinstance(node, promql.Call) and node.func.name in RATE_FUNCTIONS:
            inner = node.args[0]
            rated = getattr(inner, "vector_selector", None)
            if rated is None:  # a subquery: rate over a recorded or computed vector
                continue
            metric, suffix = known.series[rated.name]
            assert suffix in COUNTER_SAMPLES.get(metric.kind, ()), (
                f"{where}: {node.func.name}() of `{selector.name}`, a {metric.kind}"
            )
    return used


def _output_labels(node: Any) -> frozenset[str] | None:
    """The labels an expression's result keeps, where they are evident (aggregations)."""
    if isinstance(node, promql.AggregateExpr):
        modifier = node.modifier
        if modifier is not None and modifier.type == promql.AggModifierType.By:
            return frozenset(modifier.labels)
        return None
    if isinstance(node, promql.Call) and node.func.name == "histogram_quantile":
        inner = _output_labels(node.args[1])
        return None if inner is None else inner - {"le"}
    if isinstance(node, promql.ParenExpr):
        return _output_labels(node.expr)
    if isinstance(node, promql.BinaryExpr):
        left = _output_labels(node.lhs)
        return left if left is not None else _output_labels(node.rhs)
    return None


# --------------------------------------------------------------------------- rules


def test_rule_groups_are_well_formed(rules: dict[str, Any]) -> None:
    assert set(rules) == {"groups"}
    names = [group["name"] for group in rules["groups"]]
    assert len(names) == len(set(names)), "rule group names must be unique"
    for group in rules["groups"]:
        assert set(group) <= {"name", "interval", "rules", "limit"}, group["name"]
        assert group["rules"], f"group {group['name']} has no rules"
        for rule in group["rules"]:
            kind = "alert" if "alert" in rule else "record"
            assert ("alert" in rule) != ("record" in rule), rule
            allowed = (
                {"alert", "expr", "for", "keep_firing_for", "labels", "annotations"}
                if kind == "alert"
                else {"record", "expr", "labels"}
            )
            assert set(rule) <= allowed, f"{rule[kind]}: unexpected keys {set(rule) - allowed}"
            assert isinstance(rule["expr"], str), rule[kind]
            assert rule["expr"].strip(), rule[kind]
            if "for" in rule:
                promql.parse_duration(rule["for"])


def test_recording_rules_follow_the_naming_convention(rules: dict[str, Any]) -> None:
    records = [rule for rule in _all_rules(rules) if "record" in rule]
    assert records
    seen: set[str] = set()
    for rule in records:
        name = rule["record"]
        assert re.fullmatch(r"[a-z_]+:[a-z0-9_]+:[a-z0-9_]+", name), name
        assert name not in seen, f"{name} recorded twice"
        seen.add(name)
        kept = _output_labels(promql.parse(rule["expr"]))
        assert kept == _level_labels(name), (
            f"{name}: the level says {sorted(_level_labels(name))}, the expression keeps "
            f"{None if kept is None else sorted(kept)}"
        )


def test_every_alert_has_severity_and_annotations(rules: dict[str, Any]) -> None:
    alerts = _alerts(rules)
    names = [alert["alert"] for alert in alerts]
    assert len(names) == len(set(names)), "alert names must be unique"
    missing = REQUIRED_ALERTS - set(names)
    assert not missing, f"missing alerts: {sorted(missing)}"
    for alert in alerts:
        name = alert["alert"]
        assert re.fullmatch(r"Catalog[A-Z][A-Za-z0-9]+", name), name
        assert alert.get("labels", {}).get("severity") in SEVERITIES, f"{name}: severity"
        annotations = alert.get("annotations", {})
        for key in REQUIRED_ANNOTATIONS:
            assert str(annotations.get(key, "")).strip(), f"{name}: no {key} annotation"


def _readme_anchors() -> set[str]:
    """GitHub's heading slugs: lower case, punctuation dropped, spaces to hyphens."""
    anchors = set()
    in_fence = False
    for line in README.read_text().splitlines():
        if line.startswith("```"):
            in_fence = not in_fence
        elif not in_fence and line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            anchors.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return anchors


def test_runbooks_point_at_existing_readme_sections(rules: dict[str, Any]) -> None:
    anchors = _readme_anchors()
    assert "troubleshooting" in anchors
    for alert in _alerts(rules):
        runbook = alert["annotations"]["runbook"]
        document, _, anchor = runbook.partition("#")
        assert document == "README.md", f"{alert['alert']}: runbook {runbook}"
        assert anchor in anchors, f"{alert['alert']}: README has no section #{anchor}"


def test_rule_expressions_parse_and_name_known_metrics(rules: dict[str, Any], known: Known) -> None:
    for rule in _all_rules(rules):
        check_promql(rule["expr"], known, rule.get("alert") or rule["record"])


def test_burn_rate_windows_are_the_sre_workbook_ones(rules: dict[str, Any]) -> None:
    alerts = {alert["alert"]: alert["expr"] for alert in _alerts(rules)}
    fast = alerts["CatalogErrorBudgetBurnFast"]
    slow = alerts["CatalogErrorBudgetBurnSlow"]
    assert "ratio_rate1h > (14.4 * 0.005)" in fast
    assert "ratio_rate5m > (14.4 * 0.005)" in fast
    assert "ratio_rate6h > (6 * 0.005)" in slow
    assert "ratio_rate30m > (6 * 0.005)" in slow


def test_the_name_check_catches_typos(known: Known) -> None:
    """The checker itself: a misspelt metric, label or grouping fails."""
    bad = [
        "rate(catalog_request_total[5m])",
        'catalog_rate_limited_total{scop="ip"}',
        "sum by (endpont) (rate(catalog_requests_total[5m]))",
        "rate(catalog_in_flight_requests[5m])",
    ]
    for expr in bad:
        with pytest.raises(AssertionError):
            check_promql(expr, known, "typo")
    check_promql('sum by (scope) (rate(catalog_rate_limited_total{scope="ip"}[5m]))', known, "ok")


def test_pending_metrics_are_not_yet_registered_or_agree(known: Known) -> None:
    """A pending metric the service now registers must have the declared kind and labels."""
    for name, declared in PENDING_METRICS.items():
        registered = known.registered.get(_family_name(name, declared))
        if registered is not None:
            assert registered.kind == declared.kind, f"{name}: {registered.kind}"
            assert declared.labels <= registered.labels, f"{name}: {sorted(registered.labels)}"


# --------------------------------------------------------------------------- dashboard


def _dashboard_panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def _variables(dashboard: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {var["name"]: var for var in dashboard["templating"]["list"]}


def _as_promql(expr: str, variables: set[str], where: str) -> str:
    """Replace Grafana variables so the expression is plain PromQL; unknown ones fail."""

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name.isdigit():  # a label_replace back-reference, `${1}`
            return match.group(0)
        assert name in variables or name in GRAFANA_BUILTINS, f"{where}: unknown ${name}"
        return "5m" if name in GRAFANA_BUILTINS else "x"

    return GRAFANA_VARIABLE.sub(substitute, expr)


def _dashboard_queries(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for panel in _dashboard_panels(dashboard):
        for target in panel.get("targets", []):
            yield f"panel {panel['id']} ({panel['title']})", target.get("expr", "")
    for annotation in dashboard["annotations"]["list"]:
        if "expr" in annotation:
            yield f"annotation {annotation['name']}", annotation["expr"]


def test_dashboard_has_a_prometheus_datasource_variable(dashboard: dict[str, Any]) -> None:
    assert dashboard["schemaVersion"] == 39
    assert dashboard["uid"]
    assert dashboard["title"]
    variables = _variables(dashboard)
    source = variables["datasource"]
    assert source["type"] == "datasource"
    assert source["query"] == "prometheus"
    for name, variable in variables.items():
        if variable["type"] == "query":
            assert variable["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, name


def test_dashboard_panels_have_unique_ids_datasource_and_targets(
    dashboard: dict[str, Any],
) -> None:
    panels = list(_dashboard_panels(dashboard))
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    data_panels = [panel for panel in panels if panel["type"] != "row"]
    assert len(data_panels) >= 20
    for panel in data_panels:
        where = f"panel {panel['id']} ({panel.get('title')})"
        assert panel.get("title"), where
        assert panel.get("datasource") == {"type": "prometheus", "uid": "${datasource}"}, where
        targets = panel.get("targets", [])
        assert targets, f"{where}: no target"
        ref_ids = [target["refId"] for target in targets]
        assert len(ref_ids) == len(set(ref_ids)), f"{where}: refIds repeat"
        for target in targets:
            assert str(target.get("expr", "")).strip(), f"{where}: empty expr"
            assert target.get("datasource", panel["datasource"]) == panel["datasource"], where


def test_dashboard_layout_fits_the_grid(dashboard: dict[str, Any]) -> None:
    boxes = []
    for panel in dashboard["panels"]:
        pos = panel["gridPos"]
        assert pos["x"] >= 0, panel["title"]
        assert pos["w"] > 0, panel["title"]
        assert pos["x"] + pos["w"] <= 24, panel["title"]
        assert pos["h"] > 0, panel["title"]
        assert pos["y"] >= 0, panel["title"]
        boxes.append((panel["title"], pos))
    for i, (title, a) in enumerate(boxes):
        for other, b in boxes[i + 1 :]:
            apart = (
                a["x"] + a["w"] <= b["x"]
                or b["x"] + b["w"] <= a["x"]
                or a["y"] + a["h"] <= b["y"]
                or b["y"] + b["h"] <= a["y"]
            )
            assert apart, f"panels {title!r} and {other!r} overlap"


def test_dashboard_queries_parse_and_name_known_metrics(
    dashboard: dict[str, Any], known: Known
) -> None:
    variables = set(_variables(dashboard))
    used: set[str] = set()
    for where, expr in _dashboard_queries(dashboard):
        used |= check_promql(_as_promql(expr, variables, where), known, where)
    missing = DASHBOARD_METRICS - used
    assert not missing, f"the dashboard shows nothing of {sorted(missing)}"
    # Recording rules exist only where alerts.yml is loaded; the dashboard must not need it.
    assert not used & set(known.recorded), "the dashboard relies on recording rules"


def test_dashboard_variable_queries_name_known_metrics(
    dashboard: dict[str, Any], known: Known
) -> None:
    variables = set(_variables(dashboard))
    for name, variable in _variables(dashboard).items():
        if variable["type"] != "query":
            continue
        query = variable["query"]["query"] if isinstance(variable["query"], dict) else ""
        match = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", query)
        assert match, f"variable {name}: {query}"
        selector = _as_promql(match.group(1), variables, f"variable {name}")
        check_promql(f"count by ({match.group(2)}) ({selector})", known, f"variable {name}")


# --------------------------------------------------------------------------- the guide


def test_guide_names_only_files_that_exist() -> None:
    text = DOC.read_text()
    paths = set(re.findall(r"`((?:deploy|docs|tests)/[\w./-]+)`", text))
    assert paths, "the guide names no deployment file"
    for path in paths:
        assert (ROOT / path).exists(), f"{DOC.name} names {path}, which does not exist"


# --------------------------------------------------------------------------- the real tools


def _tool(package: str, *names: str) -> str:
    """A Prometheus tool's path. Missing, the test fails saying what to install (never
    skips): .ci/run installs the Debian packages."""
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    pytest.fail(f"{names[0]} is not installed: apt-get install {package} (.ci/run does)")


def promtool() -> str:
    return _tool("prometheus", "promtool")


def _run(*argv: str, cwd: Path | None = None) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=cwd, check=False)
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"{' '.join(argv)} failed:\n{output}"
    return output


def test_promtool_checks_the_rules() -> None:
    output = _run(promtool(), "check", "rules", str(RULES))
    assert "SUCCESS" in output


def test_promtool_checks_the_config() -> None:
    output = _run(promtool(), "check", "config", str(PROMETHEUS_CONFIG))
    assert "SUCCESS" in output


def test_amtool_checks_the_alertmanager_config() -> None:
    amtool = _tool("prometheus-alertmanager", "amtool")
    _run(amtool, "check-config", str(ALERTMANAGER_CONFIG))


def test_blackbox_exporter_accepts_the_probe_module() -> None:
    blackbox = _tool(
        "prometheus-blackbox-exporter", "blackbox_exporter", "prometheus-blackbox-exporter"
    )
    _run(blackbox, "--config.check", f"--config.file={BLACKBOX_CONFIG}")


# Unit tests for `promtool test rules`: input series, then which alerts fire (exactly, with
# their labels) at a given time. Annotations are stripped from the rules under test so these
# pin behaviour, not wording (the wording's templates are checked by `promtool check rules`).
BASE = {"job": "catalog", "instance": "a:8084"}
BUCKETS = ("0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1.0", "2.5", "5.0", "10.0")


def series(name: str, values: str, **labels: str) -> dict[str, str]:
    merged = {**BASE, **labels}
    rendered = ",".join(f'{key}="{value}"' for key, value in merged.items())
    return {"series": f"{name}{{{rendered}}}", "values": values}


def requests(status: str, values: str, endpoint: str = "/api/data-products") -> dict[str, str]:
    return series("catalog_requests_total", values, method="GET", endpoint=endpoint, status=status)


def latency(
    endpoint: str, per_minute: int, slowest_bucket: str, minutes: int
) -> list[dict[str, str]]:
    """A histogram whose every observation falls in `slowest_bucket`."""
    made = []
    grow = f"0+{per_minute}x{minutes}"
    flat = f"0x{minutes}"
    for le in (*BUCKETS, "+Inf"):
        reached = le == "+Inf" or float(le) >= float(slowest_bucket)
        made.append(
            series(
                "catalog_request_duration_seconds_bucket",
                grow if reached else flat,
                method="GET",
                endpoint=endpoint,
                status="200",
                le=le,
            )
        )
    made.append(
        series(
            "catalog_request_duration_seconds_count",
            grow,
            method="GET",
            endpoint=endpoint,
            status="200",
        )
    )
    return made


def expect(alert: str, at: str, *fired: dict[str, str]) -> dict[str, Any]:
    return {
        "eval_time": at,
        "alertname": alert,
        "exp_alerts": [{"exp_labels": labels} for labels in fired],
    }


PAGE = {"job": "catalog", "severity": "page"}
TICKET = {"job": "catalog", "severity": "ticket"}
SLO = {"slo": "availability-99.5"}
PROBE_NOISE = requests("503", "0+5000x400", endpoint="/readyz")
FAILING = {**TICKET, "endpoint": "/api/data-products", "status": "500"}

UNIT_TESTS: list[dict[str, Any]] = [
    {  # 10% errors: both burn rates, the 5% threshold, and "any 5xx"
        "input_series": [requests("200", "0+900x130"), requests("500", "0+100x130")],
        "alert_rule_test": [
            expect("CatalogErrorBudgetBurnFast", "70m", {**PAGE, **SLO}),
            expect("CatalogErrorBudgetBurnSlow", "70m", {**PAGE, **SLO}),
            expect("CatalogErrorRateHigh", "70m", TICKET),
            expect("CatalogServerErrors", "70m", FAILING),
        ],
    },
    {  # 0.1% errors, and a /readyz answering 503 all the time: inside the budget
        "input_series": [requests("200", "0+1000x130"), requests("500", "0+1x130"), PROBE_NOISE],
        "alert_rule_test": [
            expect("CatalogErrorBudgetBurnFast", "120m"),
            expect("CatalogErrorBudgetBurnSlow", "120m"),
            expect("CatalogErrorRateHigh", "120m"),
            expect("CatalogServerErrors", "120m", FAILING),
        ],
    },
    {  # half of 10 requests fail: too few to judge a ratio, but each 5xx is reported
        "input_series": [requests("200", "0+1x20"), requests("500", "0+1x20")],
        "alert_rule_test": [
            expect("CatalogErrorRateHigh", "15m"),
            expect("CatalogServerErrors", "15m", FAILING),
        ],
    },
    {  # only /readyz fails (a dependency is down): readiness pages, not the API's 5xx alerts
        "input_series": [requests("200", "0+1000x20"), PROBE_NOISE],
        "alert_rule_test": [
            expect("CatalogServerErrors", "10m"),
            expect("CatalogErrorRateHigh", "10m"),
        ],
    },
    {  # 4% errors for hours: the slow burn pages, the fast one does not
        "input_series": [requests("200", "0+960x400"), requests("500", "0+40x400")],
        "alert_rule_test": [
            expect("CatalogErrorBudgetBurnSlow", "390m", {**PAGE, **SLO}),
            expect("CatalogErrorBudgetBurnFast", "390m"),
            expect("CatalogErrorRateHigh", "390m"),
        ],
    },
    {  # the fast burn stops soon after the errors do: the 5-minute window resets it
        "input_series": [requests("200", "0+900x130"), requests("500", "0+100x70 7000+0x60")],
        "alert_rule_test": [
            expect("CatalogErrorBudgetBurnFast", "65m", {**PAGE, **SLO}),
            expect("CatalogErrorBudgetBurnFast", "85m"),
        ],
    },
    {  # a slow busy route, a fast one, and a slow route too rarely called to judge
        "input_series": [
            *latency("/api/slow", 60, "2.5", 20),
            *latency("/api/fast", 60, "0.1", 20),
            *latency("/api/rare", 1, "2.5", 20),
        ],
        "alert_rule_test": [
            expect("CatalogHighLatency", "10m", PAGE),
            expect("CatalogEndpointHighLatency", "10m", {**TICKET, "endpoint": "/api/slow"}),
        ],
    },
    {  # slow, but 5 requests in 5 minutes are too few to judge
        "input_series": latency("/api/rare", 1, "2.5", 20),
        "alert_rule_test": [
            expect("CatalogHighLatency", "10m"),
            expect("CatalogEndpointHighLatency", "10m"),
        ],
    },
    {  # a slow /readyz (a dependency timing out) is not API latency
        "input_series": [
            *latency("/readyz", 60, "2.5", 20),
            *latency("/api/fast", 60, "0.1", 20),
        ],
        "alert_rule_test": [
            expect("CatalogHighLatency", "10m"),
            expect("CatalogEndpointHighLatency", "10m"),
        ],
    },
    {  # one instance down of two
        "input_series": [series("up", "0x10"), series("up", "1x10", instance="b:8084")],
        "alert_rule_test": [
            expect("CatalogInstanceDown", "6m", {**TICKET, "instance": "a:8084"}),
            expect("CatalogDown", "6m"),
        ],
    },
    {  # every instance down, and /readyz failing
        "input_series": [
            series("up", "0x10"),
            series("up", "0x10", instance="b:8084"),
            series(
                "probe_success",
                "0x10",
                job="catalog-readyz",
                instance="http://catalog:8084/readyz",
            ),
        ],
        "alert_rule_test": [
            expect("CatalogDown", "3m", PAGE),
            expect(
                "CatalogNotReady",
                "3m",
                {
                    "job": "catalog-readyz",
                    "instance": "http://catalog:8084/readyz",
                    "severity": "page",
                },
            ),
        ],
    },
    {  # the job vanished from service discovery
        "input_series": [series("up", "1x10", job="other")],
        "alert_rule_test": [expect("CatalogDown", "3m", PAGE)],
    },
    {  # 20% answered 429, mostly by per-client buckets
        "input_series": [
            requests("200", "0+800x20"),
            requests("429", "0+200x20"),
            series("catalog_rate_limited_total", "0+180x20", scope="ip"),
            series("catalog_rate_limited_total", "0+20x20", scope="global"),
        ],
        "alert_rule_test": [
            expect("CatalogRateLimitStorm", "10m", TICKET),
            expect("CatalogRateLimitRefusalsByScope", "10m", {**TICKET, "scope": "ip"}),
        ],
    },
    {  # Redis failing on a, not configured on b: only a is alerted
        "input_series": [
            series("catalog_rate_limit_backend", "1x20", backend="local"),
            series("catalog_rate_limit_backend", "0x20", backend="redis"),
            series("catalog_rate_limit_redis_fallback_total", "0+30x20"),
            series("catalog_rate_limit_backend", "1x20", backend="local", instance="b:8084"),
            series("catalog_rate_limit_backend", "0x20", backend="redis", instance="b:8084"),
            series("catalog_rate_limit_redis_fallback_total", "0x20", instance="b:8084"),
        ],
        "alert_rule_test": [
            expect("CatalogRateLimitRedisFallback", "10m", {**TICKET, "instance": "a:8084"}),
        ],
    },
    {  # shedding and timeouts on a, none on b
        "input_series": [
            series("catalog_load_shed_total", "0+5x30"),
            series("catalog_load_shed_total", "0x30", instance="b:8084"),
            series("catalog_request_timeouts_total", "0+1x30"),
        ],
        "alert_rule_test": [
            expect("CatalogLoadShedding", "10m", {**TICKET, "instance": "a:8084"}),
            expect("CatalogRequestTimeouts", "20m", {**TICKET, "instance": "a:8084"}),
        ],
    },
    {  # auth failures jump from 0.1/s to 5/s
        "input_series": [
            series("catalog_auth_failures_total", "0+6x120 726+300x20", reason="unknown_token")
        ],
        "alert_rule_test": [
            expect("CatalogAuthFailureSpike", "118m"),
            expect("CatalogAuthFailureSpike", "133m", TICKET),
        ],
    },
    {  # a steady 5/s of failures is not a spike
        "input_series": [series("catalog_auth_failures_total", "0+300x200", reason="expired")],
        "alert_rule_test": [expect("CatalogAuthFailureSpike", "190m")],
    },
    {  # the graph breaker open, the redis one half-open
        "input_series": [
            series("catalog_circuit_breaker_state", "2x10", dependency="neo4j"),
            series("catalog_circuit_breaker_state", "1x10", dependency="redis"),
        ],
        "alert_rule_test": [
            expect("CatalogCircuitBreakerOpen", "4m"),
            expect("CatalogCircuitBreakerOpen", "6m", {**TICKET, "dependency": "neo4j"}),
        ],
    },
    {  # pool full on a, half used on b, no pool on c (size 0 must not divide into +Inf)
        "input_series": [
            series("catalog_db_pool_size", "10x20"),
            series("catalog_db_pool_checked_out", "10x20"),
            series("catalog_db_pool_waiters", "2x20"),
            series("catalog_db_pool_size", "10x20", instance="b:8084"),
            series("catalog_db_pool_checked_out", "5x20", instance="b:8084"),
            series("catalog_db_pool_waiters", "0x20", instance="b:8084"),
            series("catalog_db_pool_size", "0x20", instance="c:8084"),
            series("catalog_db_pool_checked_out", "1x20", instance="c:8084"),
        ],
        "alert_rule_test": [
            expect("CatalogDatabasePoolSaturated", "9m"),
            expect("CatalogDatabasePoolSaturated", "11m", {**TICKET, "instance": "a:8084"}),
            expect("CatalogDatabasePoolWaiters", "6m", {**TICKET, "instance": "a:8084"}),
        ],
    },
    {  # the Slack sink fails every time; the webhook sink fails sometimes but delivers
        "input_series": [
            series("catalog_alert_deliveries_total", "0+1x30", sink="slack", outcome="failed"),
            series("catalog_alert_deliveries_total", "0x30", sink="slack", outcome="delivered"),
            series("catalog_alert_deliveries_total", "0+1x30", sink="webhook", outcome="failed"),
            series("catalog_alert_deliveries_total", "0+1x30", sink="webhook", outcome="delivered"),
            series(
                "catalog_alert_deliveries_total", "0+1x30", sink="pagerduty", outcome="circuit_open"
            ),
        ],
        "alert_rule_test": [
            expect(
                "CatalogAlertDeliveryFailing",
                "20m",
                {**TICKET, "sink": "pagerduty"},
                {**TICKET, "sink": "slack"},
            ),
        ],
    },
    {  # the search history writer is behind and failing
        "input_series": [
            series("catalog_search_history_pending", "6000x20"),
            series("catalog_search_history_flush_failures_total", "0+1x20"),
        ],
        "alert_rule_test": [
            expect("CatalogSearchHistoryBacklog", "11m", {**TICKET, "instance": "a:8084"}),
            expect("CatalogSearchHistoryFlushFailing", "12m", {**TICKET, "instance": "a:8084"}),
        ],
    },
    {  # one host's search index cannot write: its lag grows a second a second; the other's not
        "input_series": [
            series("catalog_search_index_lag_seconds", "0+60x20"),
            series("catalog_search_index_lag_seconds", "0x20", instance="b:8084"),
        ],
        "alert_rule_test": [
            expect("CatalogSearchIndexBehind", "3m"),
            expect("CatalogSearchIndexBehind", "8m", {**TICKET, "instance": "a:8084"}),
        ],
    },
]


def test_alerts_fire_when_they_should_and_only_then(rules: dict[str, Any], tmp_path: Path) -> None:
    stripped = {
        "groups": [
            {
                **group,
                "rules": [
                    {key: value for key, value in rule.items() if key != "annotations"}
                    for rule in group["rules"]
                ],
            }
            for group in rules["groups"]
        ]
    }
    (tmp_path / "alerts.yml").write_text(yaml.safe_dump(stripped, sort_keys=False))
    tests = {
        "rule_files": ["alerts.yml"],
        "evaluation_interval": "1m",
        "tests": [{"interval": "1m", **case} for case in UNIT_TESTS],
    }
    (tmp_path / "alerts_test.yml").write_text(yaml.safe_dump(tests, sort_keys=False))
    output = _run(promtool(), "test", "rules", "alerts_test.yml", cwd=tmp_path)
    assert "SUCCESS" in output


def test_unit_tests_cover_every_alert(rules: dict[str, Any]) -> None:
    """Each alert is exercised by at least one promtool case expecting it to fire."""
    fired = {
        check["alertname"]
        for case in UNIT_TESTS
        for check in case["alert_rule_test"]
        if check["exp_alerts"]
    }
    untested = {alert["alert"] for alert in _alerts(rules)} - fired
    assert not untested, f"no promtool case fires {sorted(untested)}"
