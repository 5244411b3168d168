"""The bad-input corpus through a real worker, interleaved with valid touchpoints: every bad record
lands in the DLQ with its kind and reason, every valid one is scored, the worker never restarts."""

from __future__ import annotations

import base64
import json
from collections import Counter

import pytest

from leadstream.demo.observe import counter_total
from tests.factories import wire
from tests.integration.conftest import Deployment
from tests.unit.test_corpus import AGENT_KINDS, corpus, expected_kind

pytestmark = pytest.mark.integration


def test_every_bad_record_is_in_the_dlq_and_every_valid_one_is_scored(deployment: Deployment) -> None:
    bad = corpus("touchpoints")
    worker = deployment.start_worker()
    pid = worker.pid
    records: list[tuple[bytes | None, bytes]] = []
    valid = 0
    for i, path in enumerate(bad):
        records.append((b"corpus", path.read_bytes()))
        for j in range(2):  # two valid touchpoints after every bad one, same key and partition
            body = wire("web_visit", event_id=f"ok-{i}-{j}", lead_id="CORPUS-1" if j else f"OK-{i % 7}",
                        payload={"url": f"/page/{i}"})
            records.append((b"corpus", json.dumps(body).encode()))
            valid += 1
    deployment.produce(records)
    deployment.wait_for(
        lambda: counter_total(deployment.metrics(worker), "leadstream_touchpoints_total", outcome="scored") >= valid,
        timeout=90, what="every valid touchpoint scored")

    feedback = corpus("feedback")
    deployment.produce([(b"CORPUS-1", p.read_bytes()) for p in feedback], topic=deployment.topics["feedback"])

    dlq = [json.loads(m.value) for m in deployment.consume("dlq", count=len(bad) + len(feedback), settle=2.0)]
    by_value = {base64.b64decode(r["value_b64"]): r for r in dlq if r["stage"] in ("ingest", "feedback")}
    for path in bad:
        record = by_value.get(path.read_bytes())
        assert record is not None, f"{path.name} is not in the DLQ"
        assert (record["stage"], record["kind"]) == ("ingest", expected_kind(path)), path.name
        assert len(record["reason"]) >= 10
    for path in feedback:
        if expected_kind(path) in AGENT_KINDS:
            continue
        record = by_value.get(path.read_bytes())
        assert record is not None, f"{path.name} is not in the DLQ"
        assert (record["stage"], record["kind"]) == ("feedback", expected_kind(path)), path.name
    refused = Counter(r["kind"] for r in dlq if r["stage"] == "leads")
    assert refused == Counter(expected_kind(p) for p in feedback if expected_kind(p) in AGENT_KINDS)
    assert len(dlq) == len(bad) + len(feedback)  # nothing twice, nothing else

    samples = deployment.metrics(worker)
    assert counter_total(samples, "leadstream_touchpoints_total", outcome="scored") == valid
    assert counter_total(samples, "leadstream_touchpoints_total", outcome="dlq") == len(bad)
    assert counter_total(samples, "leadstream_errors_total") == 0
    assert worker.alive and worker.pid == pid
    log = (deployment.base / "w1.log").read_text(errors="replace")
    assert log.count("Worker ready") == 1 and "Traceback" not in log
