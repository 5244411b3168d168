"""deploy/: Prometheus config and alerts (checked and unit-tested by promtool), the Grafana
dashboard and the Kubernetes manifests, checked against what the code really exposes."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from leadstream.config import load_settings
from leadstream.config.model_loader import load_model
from leadstream.connector.runner import ConnectorMetrics
from leadstream.streams.ops.metrics import Metrics

ROOT = Path(__file__).parents[2]
DEPLOY = ROOT / "deploy"
PROMETHEUS = DEPLOY / "prometheus"

# The dev script installs Debian's prometheus when it can; elsewhere these skip, unless CI says
# they must run.
needs_promtool = pytest.mark.skipif(
    shutil.which("promtool") is None and not os.environ.get("LEADSTREAM_REQUIRE_PROMETHEUS"),
    reason="promtool not installed (apt-get install prometheus; ./dev test does it as root)",
)


# kubectl (with its built-in kustomize) ships with the machine image; CI must use it, never skip.
needs_kubectl = pytest.mark.skipif(
    shutil.which("kubectl") is None and os.environ.get("CI") != "true",
    reason="kubectl not installed (it renders deploy/ with its built-in kustomize)",
)
K8S_VERSIONS = ("1.30.0", "1.31.0", "1.32.0")


def _promtool(*args: str) -> str:
    result = subprocess.run(["promtool", *args], cwd=PROMETHEUS, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@needs_promtool
def test_prometheus_config_and_its_rule_file_are_valid() -> None:
    assert "SUCCESS" in _promtool("check", "config", "prometheus.yml")
    assert "13 rules found" in _promtool("check", "rules", "alerts.yml")


@needs_promtool
def test_alerts_fire_when_they_should_and_stay_quiet_otherwise() -> None:
    """Including a series labelled as the Prometheus Operator labels it (job "<ns>/leadstream"),
    every worker gone (absent), errors and a slow handover p99."""
    assert "SUCCESS" in _promtool("test", "rules", "alerts.test.yml")


def test_every_alert_has_a_unit_test_and_matches_the_label_the_scrape_configs_set() -> None:
    rules = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())["groups"][0]["rules"]
    tests = yaml.safe_load((PROMETHEUS / "alerts.test.yml").read_text())["tests"]
    tested = {case["alertname"] for test in tests for case in test["alert_rule_test"]
              if case["exp_alerts"]}
    assert {rule["alert"] for rule in rules} == tested
    for rule in rules:
        assert "job=" not in rule["expr"], rule["alert"]  # the job label differs per platform
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    relabel = config["scrape_configs"][0]["relabel_configs"]
    assert {"target_label": "app", "replacement": "leadstream"} in relabel
    monitor = yaml.safe_load((DEPLOY / "k8s" / "podmonitor.yaml").read_text())
    relabelings = monitor["spec"]["podMetricsEndpoints"][0]["relabelings"]
    assert {"action": "replace", "targetLabel": "app", "replacement": "leadstream"} in relabelings


def test_the_prometheus_rule_for_the_operator_carries_the_same_alerts() -> None:
    plain = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())
    rule = yaml.safe_load((DEPLOY / "k8s" / "prometheusrule.yaml").read_text())
    assert (rule["apiVersion"], rule["kind"]) == ("monitoring.coreos.com/v1", "PrometheusRule")
    assert rule["spec"] == plain


def _exposed_names() -> set[str]:
    """Every sample name a worker or the CRM connector can expose, from their real registries
    (plus Prometheus' ``up``)."""
    names = {"up"}
    families = [*Metrics().registry.collect(), *ConnectorMetrics().registry.collect()]
    for family in families:
        kind = family.type
        if kind == "counter":
            names.add(f"{family.name}_total")
        elif kind == "histogram":
            names.update(f"{family.name}_{s}" for s in ("bucket", "count", "sum"))
        else:
            names.add(family.name)
    # scrape-time gauges (StateCollector) are documented in streams/ops/metrics.py
    source = (ROOT / "streams" / "ops" / "metrics.py").read_text()
    names.update(re.findall(r'GaugeMetricFamily\(\s*"(leadstream_[a-z_]+)"', source))
    return names


_NAME = r"\b(leadstream_[a-z_]+|process_[a-z_]+|python_[a-z_]+|up)\b"


def _metric_names(expr: str) -> set[str]:
    without_labels = re.sub(r"\{[^}]*\}", "", expr)
    return set(re.findall(_NAME, without_labels))


def _dashboard() -> dict[str, Any]:
    return json.loads((DEPLOY / "grafana" / "dashboards" / "leadstream.json").read_text())


def test_alert_and_dashboard_queries_only_use_metrics_the_worker_exposes() -> None:
    exposed = _exposed_names()
    assert {"process_resident_memory_bytes", "process_cpu_seconds_total", "process_open_fds",
            "python_gc_collections_total"} <= exposed
    rules = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())
    exprs = [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    exprs += [t["expr"] for panel in _dashboard()["panels"] for t in panel["targets"]]
    used = set().union(*(_metric_names(e) for e in exprs))
    assert used - exposed == set()
    # and every metric family is on the dashboard somewhere
    families = {re.sub(r"_(total|bucket|count|sum)$", "", n) for n in exposed - {"up"}}
    shown = {re.sub(r"_(total|bucket|count|sum)$", "", n) for n in used}
    assert families - shown == set()


def test_dashboard_has_datasource_and_instance_variables_that_every_query_uses() -> None:
    dashboard = _dashboard()
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert variables["instance"]["includeAll"] and variables["instance"]["multi"]
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        for target in panel["targets"]:
            selectors = re.findall(_NAME + r"(\{[^}]*\})?", target["expr"])
            for name, labels in selectors:
                if name == "up" and not labels:
                    continue
                # the connector's panels choose from the connector's instances
                variable = "connector" if name.startswith("leadstream_connector_") else "instance"
                assert f'instance=~"${variable}"' in labels, (panel["title"], target["expr"])
    assert variables["connector"]["query"]["query"] == \
        'label_values(up{app="leadstream-connector"}, instance)'
    assert variables["connector"]["includeAll"] and variables["connector"]["multi"]


def test_grafana_provisioning_points_at_the_dashboard_and_datasource_the_dashboard_uses() -> None:
    provisioning = DEPLOY / "grafana" / "provisioning"
    source = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())
    uid = source["datasources"][0]["uid"]
    dashboard = _dashboard()
    default = next(v for v in dashboard["templating"]["list"] if v["name"] == "datasource")
    assert default["current"]["value"] == uid
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])
    provider = yaml.safe_load((provisioning / "dashboards" / "leadstream.yml").read_text())
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"


# -- Kubernetes ------------------------------------------------------------------------------


def _render(folder: Path) -> list[dict[str, Any]]:
    """What ``kubectl apply -k folder`` would send: kustomize's output, document by document."""
    result = subprocess.run(["kubectl", "kustomize", str(folder)], capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@needs_kubectl
@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_every_manifest_validates_against_the_strict_kubernetes_schema(version: str) -> None:
    """Strict: an unknown or misspelt field is an error, as ``kubectl apply --validate=strict``."""
    docs = _render(DEPLOY)
    kinds = sorted(doc["kind"] for doc in docs)
    assert kinds == ["ConfigMap", "ConfigMap", "Deployment", "Job", "PodDisruptionBudget",
                     "PodMonitor", "PodMonitor", "PrometheusRule", "Service", "StatefulSet"]
    for doc in docs:
        if doc["apiVersion"].startswith("monitoring.coreos.com/"):
            continue  # the Prometheus Operator's CRDs are not in the Kubernetes schemas
        kubernetes_validate.validate(doc, version, strict=True)
    # the check does catch a misspelt field
    statefulset = next(doc for doc in docs if doc["kind"] == "StatefulSet")
    statefulset["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(statefulset, version, strict=True)


def _pod_specs(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {doc["kind"]: doc["spec"]["template"]["spec"] for doc in docs
            if doc["kind"] in ("StatefulSet", "Job", "Deployment", "DaemonSet")}


@needs_kubectl
def test_pods_meet_the_restricted_pod_security_standard() -> None:
    """The checks of the "restricted" level (Kubernetes Pod Security Standards) plus a read-only
    root filesystem."""
    pods = _pod_specs(_render(DEPLOY / "k8s"))
    assert set(pods) == {"StatefulSet", "Job", "Deployment"}
    for kind, pod in pods.items():
        context = pod["securityContext"]
        assert context["runAsNonRoot"] is True, kind
        assert context.get("runAsUser", 1) != 0, kind
        assert context["seccompProfile"]["type"] in ("RuntimeDefault", "Localhost"), kind
        assert not pod.get("hostNetwork") and not pod.get("hostPID") and not pod.get("hostIPC")
        for volume in pod.get("volumes", []):
            assert set(volume) - {"name"} <= {"configMap", "secret", "emptyDir",
                                               "persistentVolumeClaim", "projected"}, volume
        for container in pod["containers"] + pod.get("initContainers", []):
            own = container["securityContext"]
            assert own["allowPrivilegeEscalation"] is False, kind
            assert own["capabilities"]["drop"] == ["ALL"] and not own["capabilities"].get("add")
            assert own.get("privileged", False) is False
            assert own["readOnlyRootFilesystem"] is True, kind
            assert "resources" in container and "limits" in container["resources"]
            mounts = {m["mountPath"] for m in container.get("volumeMounts", [])}
            if kind == "StatefulSet":
                assert "/tmp" in mounts  # the only writable paths: /tmp and the state volume


@needs_kubectl
def test_settings_and_model_are_a_generated_config_map_that_rolls_the_workers() -> None:
    docs = _render(DEPLOY / "k8s")
    config = next(doc for doc in docs if doc["kind"] == "ConfigMap")
    name = config["metadata"]["name"]
    assert re.fullmatch(r"leadstream-config-[a-z0-9]{10}", name), name  # content hash suffix
    for pod in _pod_specs(docs).values():
        assert {"name": name} == {"name": pod["volumes"][0]["configMap"]["name"]}
    # the hash follows the content: another model, another name, so the pods roll
    base = (DEPLOY / "k8s")
    kustomization = yaml.safe_load((base / "kustomization.yaml").read_text())
    assert kustomization["configMapGenerator"][0]["files"] == ["config/leadstream.yaml",
                                                               "config/scoring-model.yaml"]


@needs_kubectl
def test_images_are_pinned_to_the_release_and_never_latest() -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    for pod in _pod_specs(_render(DEPLOY / "k8s")).values():
        for container in pod["containers"]:
            assert container["image"] == f"leadstream:{version}"
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    for service in ("worker", "traffic", "kafka-init", "connector"):
        assert compose["services"][service]["image"] == f"leadstream:{version}"
    assert "latest" not in (ROOT / "docker-compose.yml").read_text()


@needs_kubectl
def test_the_topics_job_creates_the_topics_with_the_workers_settings() -> None:
    docs = _render(DEPLOY / "k8s")
    job = next(doc for doc in docs if doc["kind"] == "Job")
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == ["topics", "create", "--config", "/etc/leadstream/leadstream.yaml"]
    # the Job's pods are no workers: the Service, PDB and PodMonitor must not select them
    labels = job["spec"]["template"]["metadata"].get("labels", {})
    assert "app.kubernetes.io/name" not in labels


@needs_kubectl
def test_the_dashboard_config_map_is_the_dashboard() -> None:
    docs = _render(DEPLOY)
    config = next(doc for doc in docs if doc["metadata"]["name"] == "leadstream-grafana-dashboard")
    assert config["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(config["data"]["leadstream.json"]) == _dashboard()


def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((DEPLOY / "k8s" / "kustomization.yaml").read_text())
    files = {p.name for p in (DEPLOY / "k8s").glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == files


def _manifests() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            if path.name != "connector.yaml":  # the workers' manifests, one of each kind
                out[doc["kind"]] = doc
    return out


def test_the_connector_reads_the_workers_settings_and_its_database_from_a_secret() -> None:
    deployment, monitor = yaml.safe_load_all((DEPLOY / "k8s" / "connector.yaml").read_text())
    # one writes and one stands by (a database lock, tests/integration/test_connector.py)
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    pod = deployment["spec"]["template"]
    container = pod["spec"]["containers"][0]
    assert container["args"] == ["connector", "--config", "/etc/leadstream/leadstream.yaml"]
    env = {e["name"]: e for e in container["env"]}
    secret = env.pop("LEADSTREAM__CONNECTOR__DATABASE")["valueFrom"]["secretKeyRef"]
    assert secret == {"name": "leadstream-connector", "key": "database"}
    values = {name: e["value"] for name, e in env.items()}
    settings = load_settings(DEPLOY / "k8s" / "config" / "leadstream.yaml", serves_web=False,
                             environ={**values, "LEADSTREAM__WEB__HOST": "0.0.0.0",
                                      "LEADSTREAM__CONNECTOR__DATABASE": "postgresql://crm@db/crm"})
    port = next(p for p in container["ports"] if p["name"] == "metrics")
    assert port["containerPort"] == settings.connector.metrics_port
    # the workers' Service, PDB and PodMonitor do not select it; its own PodMonitor does, and
    # labels it as the connector alerts expect
    labels = pod["metadata"]["labels"]
    workers = _manifests()
    for kind in ("Service", "PodDisruptionBudget", "PodMonitor"):
        selector = workers[kind]["spec"]["selector"]
        assert not selector.get("matchLabels", selector).items() <= labels.items(), kind
    assert monitor["spec"]["selector"]["matchLabels"].items() <= labels.items()
    endpoint = monitor["spec"]["podMetricsEndpoints"][0]
    assert endpoint["port"] == "metrics"
    assert {"action": "replace", "targetLabel": "app",
            "replacement": "leadstream-connector"} in endpoint["relabelings"]


def test_statefulset_matches_the_settings_and_endpoints_the_worker_has(tmp_path: Path) -> None:
    manifests = _manifests()
    config = DEPLOY / "k8s" / "config"
    statefulset = manifests["StatefulSet"]
    container = statefulset["spec"]["template"]["spec"]["containers"][0]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    env = {e["name"]: e["value"].replace("$(POD_NAME)", "leadstream-0")
           for e in container["env"] if "value" in e}
    assert env["LEADSTREAM__KAFKA__GROUP_INSTANCE_ID"] == "leadstream-0"  # one per pod
    # the token file, where the Secret volume puts it
    token_file = env.pop("LEADSTREAM__WEB__API_TOKEN_FILE")
    assert token_file.startswith(mounts["api-token"] + "/")
    (tmp_path / "token").write_text("from-the-secret")
    env["LEADSTREAM__WEB__API_TOKEN_FILE"] = str(tmp_path / "token")
    settings = load_settings(config / "leadstream.yaml", environ=env)
    load_model(config / "scoring-model.yaml")  # the shipped example model is valid
    assert settings.web.api_token is not None and settings.web.auth == "token"

    assert str(settings.state.dir).startswith(mounts["state"] + "/")
    assert Path(settings.model_path).name == "scoring-model.yaml"
    assert str(settings.model_path).startswith(mounts["config"] + "/")
    assert container["args"][-1] == f"{mounts['config']}/leadstream.yaml"
    assert statefulset["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "state"
    port = next(p for p in container["ports"] if p["name"] == "http")
    assert port["containerPort"] == settings.web.port and settings.web.host == "0.0.0.0"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["timeoutSeconds"] >= 3  # the default 1 s fails a busy worker
    service = manifests["Service"]
    assert statefulset["spec"]["serviceName"] == service["metadata"]["name"]
    assert f".{service['metadata']['name']}:{settings.web.port}" in str(settings.web.canonical_url)
    assert statefulset["spec"]["replicas"] <= settings.topics.partitions
    assert statefulset["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] >= 30
    labels = statefulset["spec"]["template"]["metadata"]["labels"]
    for kind in ("Service", "PodDisruptionBudget", "PodMonitor"):
        selector = manifests[kind]["spec"]["selector"]
        wanted = selector.get("matchLabels", selector)
        assert wanted.items() <= labels.items(), kind
