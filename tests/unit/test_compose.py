"""docker-compose.yml cannot run here (no Docker engine); check what can be checked."""

from __future__ import annotations

import os
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

from leadstream.config import load_settings
from leadstream.streams.prepare import external_topics, topic_plan

ROOT = Path(__file__).parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _env(service: str) -> dict[str, str]:
    return {k: str(v) for k, v in COMPOSE["services"][service]["environment"].items()}


def test_worker_environment_is_valid_settings_for_real_kafka() -> None:
    settings = load_settings(environ=_env("worker"))
    assert settings.kafka.flavour == "kafka"
    host, port = settings.kafka.bootstrap_servers.split(":")
    assert host in COMPOSE["services"]
    assert f"PLAINTEXT://{host}:{port}" in COMPOSE["services"]["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"]
    assert str(settings.web.port) in [str(p) for p in COMPOSE["services"]["worker"]["expose"]]


def test_init_creates_every_topic_the_worker_expects_with_its_partition_count() -> None:
    """kafka-init runs ``leadstream topics create`` with the workers' own settings, so it creates
    exactly the topic plan (inputs, outputs, internal topics, changelogs compacted)."""
    init = COMPOSE["services"]["kafka-init"]
    assert init["command"] == ["topics", "create"]
    assert init["image"] == COMPOSE["services"]["worker"]["image"]
    assert _env("kafka-init") == _env("worker")
    settings = load_settings(environ=_env("kafka-init"), serves_web=False)
    plan = {spec.name: spec for spec in topic_plan(settings)}
    assert set(external_topics(settings)) <= set(plan)
    assert {spec.partitions for spec in plan.values()} == {settings.topics.partitions}
    assert plan[f"{settings.app_id}-leads-changelog"].configs["cleanup.policy"] == "compact"
    assert "retention.ms" in plan[settings.topics.dlq].configs
    assert settings.topics.create is False
    assert init["depends_on"]["kafka"]["condition"] == "service_healthy"


def test_kafka_keeps_its_log_on_its_volume() -> None:
    """The apache/kafka image writes to KAFKA_LOG_DIRS (default outside any volume)."""
    kafka = COMPOSE["services"]["kafka"]
    log_dirs = kafka["environment"]["KAFKA_LOG_DIRS"]
    mounts = {volume.split(":")[1]: volume.split(":")[0] for volume in kafka["volumes"]}
    assert any(log_dirs == path or log_dirs.startswith(path + "/") for path in mounts), mounts
    assert mounts[log_dirs] in COMPOSE["volumes"]  # a named volume: survives a recreate


@pytest.mark.skipif(shutil.which("amtool") is None and not os.environ.get("LEADSTREAM_REQUIRE_PROMETHEUS"),
                    reason="amtool not installed (apt-get install prometheus-alertmanager)")
def test_alerts_are_routed_by_an_alertmanager_whose_config_checks() -> None:
    services = COMPOSE["services"]
    assert "./deploy/alertmanager:/etc/alertmanager:ro" in services["alertmanager"]["volumes"]
    prometheus = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    targets = prometheus["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    port = services["alertmanager"]["ports"][0].split(":")[-1]
    assert targets == [f"alertmanager:{port}"]
    result = subprocess.run(["amtool", "check-config", str(ROOT / "deploy/alertmanager/alertmanager.yml")],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0 and "SUCCESS" in result.stdout, result.stdout + result.stderr
    config = yaml.safe_load((ROOT / "deploy/alertmanager/alertmanager.yml").read_text())
    receivers = {r["name"] for r in config["receivers"]}
    assert config["route"]["receiver"] in receivers
    assert {route["receiver"] for route in config["route"]["routes"]} <= receivers


def test_services_use_built_image_and_declared_volumes() -> None:
    services = COMPOSE["services"]
    assert services["traffic"]["image"] == services["worker"]["image"]
    declared = set(COMPOSE["volumes"])
    for service in services.values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), volume  # bind mounts of repo folders
            elif not source.startswith("/"):  # "/path" alone: an anonymous volume per container
                assert source in declared, volume
    # RocksDB state must never be shared between scaled workers
    assert services["worker"]["volumes"] == ["/var/lib/leadstream"]
    dockerfile = (ROOT / "Dockerfile").read_text()
    # every folder pyproject.toml installs from (the image's pip install fails without one)
    package_dirs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-dir"].values()
    assert {"backtest", "connector", "core"} <= set(package_dirs)
    for package_dir in package_dirs:
        assert f"COPY {package_dir} {package_dir}" in dockerfile
    assert "LEADSTREAM__STATE__DIR=/var/lib/leadstream/state" in dockerfile


def test_prometheus_and_grafana_are_wired_to_the_workers_and_the_dashboard() -> None:
    services = COMPOSE["services"]
    prometheus = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    job = next(j for j in prometheus["scrape_configs"] if j["job_name"] == "leadstream")
    sd = job["dns_sd_configs"][0]
    settings = load_settings(environ=_env("worker"))
    assert sd["names"] == ["worker"] and sd["port"] == settings.web.port
    assert job["metrics_path"] == "/metrics"
    assert "./deploy/prometheus:/etc/prometheus:ro" in services["prometheus"]["volumes"]
    mounts = services["grafana"]["volumes"]
    assert "./deploy/grafana/provisioning:/etc/grafana/provisioning:ro" in mounts
    assert "./deploy/grafana/dashboards:/var/lib/grafana/dashboards:ro" in mounts
    datasource = yaml.safe_load((ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text())
    assert datasource["datasources"][0]["url"] == "http://prometheus:9090"
    assert "9090:9090" in services["prometheus"]["ports"] and "3000:3000" in services["grafana"]["ports"]
    assert settings.web.host == "0.0.0.0" or "LEADSTREAM__WEB__HOST=0.0.0.0" in (ROOT / "Dockerfile").read_text()
    assert "/readyz" in " ".join(services["worker"]["healthcheck"]["test"])


def test_the_crm_connector_keeps_postgres_tables_and_is_scraped() -> None:
    """The connector's settings are valid, its database is the compose PostgreSQL (once that
    answers), and Prometheus scrapes the metrics port it serves, labelled for the alerts."""
    services = COMPOSE["services"]
    connector = services["connector"]
    assert connector["image"] == services["worker"]["image"] and connector["command"] == ["connector"]
    settings = load_settings(environ=_env("connector"), serves_web=False)
    url = settings.connector.database.get_secret_value()
    assert url.startswith("postgresql://") and "@postgres:5432/" in url
    assert url.rsplit("/", 1)[1] == services["postgres"]["environment"]["POSTGRES_DB"]
    assert connector["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert connector["depends_on"]["kafka-init"]["condition"] == "service_completed_successfully"
    port = settings.connector.metrics_port
    assert str(port) in [str(p) for p in connector["expose"]]
    prometheus = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    job = next(j for j in prometheus["scrape_configs"] if j["job_name"] == "leadstream-connector")
    assert job["static_configs"][0]["targets"] == [f"connector:{port}"]
    assert {"target_label": "app", "replacement": "leadstream-connector"} in job["relabel_configs"]
    assert "postgres-data:/var/lib/postgresql/data" in services["postgres"]["volumes"]
