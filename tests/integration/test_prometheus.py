"""A real Prometheus on loopback scrapes a real worker and answers queries for leadstream metrics."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from leadstream.broker.embedded import free_port
from leadstream.broker.process import die_with_parent
from tests.factories import wire
from tests.integration.conftest import Deployment
from tests.unit.test_deploy import PROMETHEUS, needs_promtool

pytestmark = [pytest.mark.integration, needs_promtool]


class Prometheus:
    def __init__(self, base: Path, target: str) -> None:
        config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
        config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
        # the shipped job, with the worker as a static target instead of Docker DNS discovery
        job = config["scrape_configs"][0]
        del job["dns_sd_configs"]
        job["static_configs"] = [{"targets": [target]}]
        del config["alerting"]  # no Alertmanager here; the rules are still evaluated
        shutil.copy(PROMETHEUS / "alerts.yml", base / "alerts.yml")
        (base / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = (base / "prometheus.log").open("wb")
        self.process = subprocess.Popen(
            ["prometheus", f"--config.file={base / 'prometheus.yml'}",
             f"--storage.tsdb.path={base / 'tsdb'}", f"--web.listen-address=127.0.0.1:{self.port}"],
            stdout=self._log, stderr=subprocess.STDOUT, preexec_fn=die_with_parent,
        )

    def api(self, path: str, **params: str) -> Any:
        url = f"{self.url}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback
                return json.loads(response.read())["data"]
        except OSError:
            return None

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log.close()


@pytest.fixture
def prometheus_for(tmp_path: Path) -> Iterator[Any]:
    started: list[Prometheus] = []

    def start(target: str) -> Prometheus:
        started.append(Prometheus(tmp_path, target))
        return started[-1]

    yield start
    for running in started:
        running.stop()


def test_prometheus_scrapes_a_worker_and_answers_a_query(deployment: Deployment, prometheus_for: Any) -> None:
    worker = deployment.start_worker()
    deployment.produce([(b"k", json.dumps(wire("web_visit", event_id=f"p{i}", lead_id=f"P{i % 3}")).encode())
                        for i in range(5)] + [(b"k", b"not json")])
    prometheus = prometheus_for(f"127.0.0.1:{worker.web_port}")

    def scored() -> float | None:
        data = prometheus.api("query", query='sum(leadstream_touchpoints_total{outcome="scored"})')
        if not data or not data["result"]:
            return None
        return float(data["result"][0]["value"][1])

    deployment.wait_for(lambda: scored() == 5.0, timeout=60, what="Prometheus to see 5 scored touchpoints")
    up = prometheus.api("query", query='up{app="leadstream"}')["result"]
    assert [float(r["value"][1]) for r in up] == [1.0]
    dlq = prometheus.api("query", query="sum by (reason) (leadstream_dlq_records_total)")["result"]
    assert [(r["metric"]["reason"], float(r["value"][1])) for r in dlq] == [("invalid_json", 1.0)]
    rules = prometheus.api("rules")["groups"][0]["rules"]
    assert {r["name"] for r in rules} >= {"LeadstreamWorkerDown", "LeadstreamConsumerLagGrowing"}
    assert all(r["health"] == "ok" for r in rules)
