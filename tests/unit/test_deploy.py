"""deploy/: Prometheus config and alerts (checked and unit-tested by promtool), the Grafana
dashboard and the Kubernetes manifests, checked against what the code really exposes."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from leadstream.config import load_settings
from leadstream.config.model_loader import load_model
from leadstream.streams.metrics import Metrics

ROOT = Path(__file__).parents[2]
DEPLOY = ROOT / "deploy"
PROMETHEUS = DEPLOY / "prometheus"

# The dev script installs Debian's prometheus when it can; elsewhere these skip, unless CI says
# they must run.
needs_promtool = pytest.mark.skipif(
    shutil.which("promtool") is None and not os.environ.get("LEADSTREAM_REQUIRE_PROMETHEUS"),
    reason="promtool not installed (apt-get install prometheus; ./dev test does it as root)",
)


def _promtool(*args: str) -> str:
    result = subprocess.run(["promtool", *args], cwd=PROMETHEUS, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@needs_promtool
def test_prometheus_config_and_its_rule_file_are_valid() -> None:
    assert "SUCCESS" in _promtool("check", "config", "prometheus.yml")
    assert "6 rules found" in _promtool("check", "rules", "alerts.yml")


@needs_promtool
def test_alerts_fire_when_they_should_and_stay_quiet_otherwise() -> None:
    assert "SUCCESS" in _promtool("test", "rules", "alerts.test.yml")


def _exposed_names() -> set[str]:
    """Every sample name a worker can expose, from the real registry (plus Prometheus' ``up``)."""
    names = {"up"}
    for family in Metrics().registry.collect():
        kind = family.type
        if kind == "counter":
            names.add(f"{family.name}_total")
        elif kind == "histogram":
            names.update(f"{family.name}_{s}" for s in ("bucket", "count", "sum"))
        else:
            names.add(family.name)
    # scrape-time gauges (StateCollector) are documented in streams/metrics.py
    source = (ROOT / "streams" / "metrics.py").read_text()
    names.update(re.findall(r'GaugeMetricFamily\(\s*"(leadstream_[a-z_]+)"', source))
    return names


def _metric_names(expr: str) -> set[str]:
    without_labels = re.sub(r"\{[^}]*\}", "", expr)
    return {n for n in re.findall(r"\b(leadstream_[a-z_]+|up)\b", without_labels)}


def test_alert_and_dashboard_queries_only_use_metrics_the_worker_exposes() -> None:
    exposed = _exposed_names()
    rules = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())
    exprs = [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "leadstream.json").read_text())
    exprs += [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    used = set().union(*(_metric_names(e) for e in exprs))
    assert used - exposed == set()
    # and every metric family is on the dashboard somewhere
    families = {re.sub(r"_(total|bucket|count|sum)$", "", n) for n in exposed - {"up"}}
    shown = {re.sub(r"_(total|bucket|count|sum)$", "", n) for n in used}
    assert families - shown == set()


def test_grafana_provisioning_points_at_the_dashboard_and_datasource_the_dashboard_uses() -> None:
    provisioning = DEPLOY / "grafana" / "provisioning"
    source = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())
    uid = source["datasources"][0]["uid"]
    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "leadstream.json").read_text())
    assert {p["datasource"]["uid"] for p in dashboard["panels"]} == {uid}
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])
    provider = yaml.safe_load((provisioning / "dashboards" / "leadstream.yml").read_text())
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"


def _manifests() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            out[doc["kind"]] = doc
    return out


def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((DEPLOY / "k8s" / "kustomization.yaml").read_text())
    files = {p.name for p in (DEPLOY / "k8s").glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == files


def test_statefulset_matches_the_settings_and_endpoints_the_worker_has(tmp_path: Path) -> None:
    manifests = _manifests()
    config = manifests["ConfigMap"]["data"]
    (tmp_path / "leadstream.yaml").write_text(config["leadstream.yaml"])
    (tmp_path / "scoring-model.yaml").write_text(config["scoring-model.yaml"])
    statefulset = manifests["StatefulSet"]
    container = statefulset["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value", "from-secret") for e in container["env"]}
    env["LEADSTREAM__WEB__CANONICAL_URL"] = env["LEADSTREAM__WEB__CANONICAL_URL"].replace(
        "$(POD_NAME)", "leadstream-0")
    settings = load_settings(tmp_path / "leadstream.yaml", environ=env)
    load_model(tmp_path / "scoring-model.yaml")  # the shipped example model is valid

    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert str(settings.state.dir).startswith(mounts["state"] + "/")
    assert str(settings.model_path).startswith(mounts["config"] + "/") or \
        Path(settings.model_path).name == "scoring-model.yaml"
    assert container["args"][-1] == f"{mounts['config']}/leadstream.yaml"
    assert statefulset["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "state"
    port = next(p for p in container["ports"] if p["name"] == "http")
    assert port["containerPort"] == settings.web.port and settings.web.host == "0.0.0.0"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    service = manifests["Service"]
    assert statefulset["spec"]["serviceName"] == service["metadata"]["name"]
    assert f".{service['metadata']['name']}:{settings.web.port}" in str(settings.web.canonical_url)
    assert settings.web.api_token is not None
    assert statefulset["spec"]["replicas"] <= settings.topics.partitions
    assert statefulset["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] >= 30
    labels = statefulset["spec"]["template"]["metadata"]["labels"]
    for kind in ("Service", "PodDisruptionBudget", "PodMonitor"):
        selector = manifests[kind]["spec"]["selector"]
        wanted = selector.get("matchLabels", selector)
        assert wanted.items() <= labels.items(), kind
