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
            assert volume.split(":")[0] in declared
    dockerfile = (ROOT / "Dockerfile").read_text()
    for package_dir in ("leadstream", "core", "schemas", "config", "streams", "agents", "broker", "demo"):
        assert f"COPY {package_dir} {package_dir}" in dockerfile
    assert "LEADSTREAM__STATE__DIR=/var/lib/leadstream/state" in dockerfile
