"""examples/ runs: the aiokafka producer sends the example touchpoints to a real worker on the
embedded broker, and the person they describe becomes an MQL with their visitor history; then the
confluent-kafka producer (idempotent) sends the same file again, and the worker counts every
record as a duplicate of the first (the stable event_id at work), the lead unchanged."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from leadstream.core.identity import email_lead_id
from leadstream.demo.observe import counter_total
from tests.integration.conftest import Deployment, http_get

pytestmark = pytest.mark.integration

EXAMPLES = Path(__file__).parents[2] / "examples"


def _send_examples(deployment: Deployment, producer: str) -> subprocess.CompletedProcess[str]:
    """Run one producer example over the example touchpoints, as its docstring says to."""
    return subprocess.run(
        [sys.executable, str(EXAMPLES / producer), "--bootstrap",
         deployment.broker.bootstrap_servers, "--topic", deployment.topics["touchpoints"],
         str(EXAMPLES / "touchpoints.ndjson")],
        capture_output=True, text=True, timeout=120, check=False)


def test_the_aiokafka_producer_example_delivers_and_the_lead_is_scored(
        deployment: Deployment) -> None:
    worker = deployment.start_worker()
    sent = _send_examples(deployment, "produce_aiokafka.py")
    assert sent.returncode == 0, sent.stderr
    assert "sent 3 of 3 touchpoints" in sent.stdout
    deployment.wait_for(lambda: counter_total(deployment.metrics(worker),
                                              "leadstream_touchpoints_total", outcome="scored") >= 3,
                        timeout=60, what="the example touchpoints are scored")
    status, lead = http_get(
        f"{worker.base_url}/leads/{email_lead_id('jana.kraus@nordlicht-energie.example')}", None)
    assert status == 200
    assert lead["stage"] == "mql" and lead["touchpoints"] == 3  # the anonymous visit counts
    assert [h["to"] for h in lead["history"]] == ["mgl", "mql"]

    again = _send_examples(deployment, "produce_confluent.py")
    assert again.returncode == 0, again.stderr
    assert "sent 3 of 3 touchpoints" in again.stdout
    deployment.wait_for(lambda: counter_total(deployment.metrics(worker),
                                              "leadstream_touchpoints_total",
                                              outcome="duplicate") >= 3,
                        timeout=60, what="the re-sent touchpoints are counted as duplicates")
    status, same = http_get(
        f"{worker.base_url}/leads/{email_lead_id('jana.kraus@nordlicht-energie.example')}", None)
    assert status == 200 and same["touchpoints"] == 3 and same["history"] == lead["history"]
