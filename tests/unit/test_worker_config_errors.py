"""A broken scoring model or settings file stops `leadstream worker` at start — before it touches
Kafka — with the file, line, field and reason, and exit code 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def _worker(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("LEADSTREAM__")}
    # an address where nothing listens: the error must come before any connection attempt
    environ.update({"LEADSTREAM__KAFKA__BOOTSTRAP_SERVERS": "127.0.0.1:9",
                    "LEADSTREAM__WEB__AUTH": "none", **(env or {})})
    return subprocess.run([sys.executable, "-m", "leadstream", "worker", *args], env=environ,
                          capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('name: x\nversion: "1"\nrules:\n  - id: a\n    type: web_visit\n    points: lots\n',
         ":6: rules.0.points: Input should be a valid number"),
        ('name: x\nversion: "1"\nrules:\n  - id: a\n    type: page_like\n    points: 1\n',
         ":5: rules.0.type"),
        ('name: x\nversion: "1"\nrules:\n  - {id: a, type: web_visit, points: 1}\nlifecycle:\n  sla_hours: -4\n',
         ":6: lifecycle.sla_hours: Input should be greater than 0"),
    ],
)
def test_a_broken_model_stops_the_worker_with_file_line_field_and_reason(
    tmp_path: Path, text: str, where: str
) -> None:
    model = tmp_path / "model.yaml"
    model.write_text(text)
    result = _worker(env={"LEADSTREAM__MODEL_PATH": str(model)})
    assert result.returncode == 2
    assert f"configuration error: {model}{where}" in result.stderr


def test_a_broken_settings_file_stops_the_worker(tmp_path: Path) -> None:
    settings = tmp_path / "leadstream.yaml"
    settings.write_text("web:\n  port: 99999\n")
    result = _worker("--config", str(settings))
    assert result.returncode == 2
    assert f"configuration error: {settings}:2: web.port: Input should be less than or equal to 65535" in result.stderr


def test_a_bad_environment_override_names_the_variable() -> None:
    result = _worker(env={"LEADSTREAM__TICKS__INTERVAL_S": "soon"})
    assert result.returncode == 2
    assert "ticks.interval_s" in result.stderr


def test_a_worker_without_an_api_token_does_not_start_open() -> None:
    """Authentication is off only when the settings say so: no token and no ``web.auth: none``
    stops the worker at start, and so do values that YAML would have read as "no value"."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("LEADSTREAM__")}
    environ["LEADSTREAM__KAFKA__BOOTSTRAP_SERVERS"] = "127.0.0.1:9"
    result = subprocess.run([sys.executable, "-m", "leadstream", "worker"], env=environ,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2
    assert "web.api_token: not set, and web.auth is 'token'" in result.stderr


def test_a_broken_shadow_model_stops_the_worker_too(tmp_path: Path) -> None:
    model = tmp_path / "candidate.yaml"
    model.write_text('name: x\nversion: "2"\nrules:\n  - id: a\n    type: web_visit\n    points: lots\n')
    result = _worker(env={"LEADSTREAM__SHADOW_MODEL_PATHS": f'["{model}"]'})
    assert result.returncode == 2
    assert f"{model}:6: rules.0.points: Input should be a valid number" in result.stderr


def test_a_broken_costs_file_stops_the_worker_before_kafka(tmp_path: Path) -> None:
    costs = tmp_path / "costs.csv"
    costs.write_text("campaign,period,cost,currency\nq4-webinar,2026-13,100,EUR\n")
    result = _worker(env={"LEADSTREAM__REPORTS__COSTS_PATH": str(costs)})
    assert result.returncode == 2
    assert str(costs) in result.stderr and "period" in result.stderr
    assert "Kafka" not in result.stderr
