"""docker-compose.yml cannot run here (no Docker engine); check what can be checked."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from leadstream.config import load_settings
from leadstream.streams.prepare import external_topics

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
    settings = load_settings(environ=_env("worker"))
    script = COMPOSE["services"]["kafka-init"]["command"][0]
    created = re.search(r"for topic in ([^;]+);", script).group(1).split()  # type: ignore[union-attr]
    assert sorted(created) == sorted(external_topics(settings))
    assert f"--partitions {settings.topics.partitions}" in script
    assert settings.topics.create is False


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
    for package_dir in ("leadstream", "core", "schemas", "config", "streams", "agents", "broker", "demo"):
        assert f"COPY {package_dir} {package_dir}" in dockerfile
    assert "LEADSTREAM__STATE__DIR=/var/lib/leadstream/state" in dockerfile


def test_prometheus_and_grafana_are_wired_to_the_workers_and_the_dashboard() -> None:
    services = COMPOSE["services"]
    prometheus = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    (job,) = prometheus["scrape_configs"]
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
