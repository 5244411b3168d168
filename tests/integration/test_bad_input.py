"""The bad-input corpus through a real worker, interleaved with valid touchpoints: every bad record
lands in the DLQ with its kind and reason, every valid one is scored, the worker never restarts."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
from collections import Counter
from datetime import timedelta

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner

from leadstream.core.messages import Touchpoint
from leadstream.demo.observe import counter_total
from leadstream.streams.pipeline import lead_messages_topic
from leadstream.streams.encoding.codecs import encode_message
from tests.factories import T0, wire
from tests.integration.conftest import Deployment
from tests.unit.test_corpus import AGENT_KINDS, corpus, expected_kind

pytestmark = pytest.mark.integration


def _cli(deployment: Deployment, *args: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("LEADSTREAM_")}
    environ.update(deployment.env)
    environ.update({"LEADSTREAM__KAFKA__BOOTSTRAP_SERVERS": deployment.broker.bootstrap_servers,
                    "LEADSTREAM__KAFKA__FLAVOUR": "tansu"})
    return subprocess.run([sys.executable, "-m", "leadstream", *args], env=environ,
                          capture_output=True, text=True, timeout=120, check=False)


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
    by_value = {base64.b64decode(r["value_b64"]): r for r in dlq}
    for path in bad:
        record = by_value.get(path.read_bytes())
        assert record is not None, f"{path.name} is not in the DLQ"
        assert (record["stage"], record["kind"]) == ("ingest", expected_kind(path)), path.name
        assert len(record["reason"]) >= 10
    for path in feedback:
        # a verdict the lead agent refuses is in the DLQ as the CRM sent it, from lead-feedback
        # (so it can be sent again once its cause is fixed), not as the internal message
        record = by_value.get(path.read_bytes())
        assert record is not None, f"{path.name} is not in the DLQ"
        stage = "leads" if expected_kind(path) in AGENT_KINDS else "feedback"
        assert (record["stage"], record["kind"]) == (stage, expected_kind(path)), path.name
        assert record["source"]["topic"] == deployment.topics["feedback"], path.name
        assert base64.b64decode(record["key_b64"]) == b"CORPUS-1", path.name
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

    # the operator's view of it, and a refused verdict sent back once its lead exists
    shown = _cli(deployment, "dlq", "show")
    assert shown.returncode == 0, shown.stderr
    assert f"unknown_lead (stage leads): 1, from {deployment.topics['feedback']} 1" in shown.stdout
    assert f"{len(bad) + len(feedback)} records" in shown.stdout
    assert "fb-7" not in shown.stdout and "value_b64" not in shown.stdout  # never a payload
    deployment.produce([(b"fix", json.dumps(wire("demo_request", event_id="fix-1",
                                                 lead_id="em-000000000000000000000000",
                                                 at=timedelta(hours=-1))).encode())])
    deployment.wait_for(lambda: counter_total(deployment.metrics(worker),
                                              "leadstream_stage_transitions_total", to_stage="mql") >= 1,
                        timeout=30, what="the lead the verdict names is an MQL")
    assert "would send 1 records back" in _cli(deployment, "dlq", "redrive", "--kind",
                                                "unknown_lead", "--dry-run").stdout
    sent = _cli(deployment, "dlq", "redrive", "--kind", "unknown_lead")
    assert sent.returncode == 0, sent.stderr
    assert f"sent 1 records back: {deployment.topics['feedback']} 1" in sent.stdout
    deployment.wait_for(lambda: counter_total(deployment.metrics(worker),
                                              "leadstream_stage_transitions_total", to_stage="sal") == 1,
                        timeout=30, what="the re-driven verdict accepted the lead")


def test_a_lead_message_that_fails_is_dead_lettered_and_its_batch_counts_once(
        deployment: Deployment) -> None:
    """A lead message the lead handler cannot apply (here: one it cannot decode, as a faulty
    producer could write it) goes to the DLQ as ``internal_error`` and the batch goes on. The
    lead's state is rebuilt from the stored one and the batch's messages before the failure, so
    every valid message of the batch counts exactly once (the re-sent one is a duplicate)."""
    worker = deployment.start_worker()
    lead = "POISON-1"

    def touchpoint(n: int) -> bytes:
        return encode_message(Touchpoint(event_id=f"p-{n}", type="web_visit",
                                         occurred_at=T0.timestamp() + n, lead_id=lead,
                                         has_contact=True, payload={"url": f"/p/{n}"}))

    values = [touchpoint(1), touchpoint(2), b"{not json", touchpoint(3), touchpoint(2)]
    asyncio.run(_one_batch(deployment, lead_messages_topic(deployment.settings()), lead.encode(),
                           values))

    def scored() -> float:
        return counter_total(deployment.metrics(worker), "leadstream_touchpoints_total")
    deployment.wait_for(lambda: scored() >= 4, timeout=60, what="the batch to be handled")
    (dead,) = [json.loads(m.value) for m in deployment.consume("dlq", count=1, settle=1.0)]
    assert (dead["stage"], dead["kind"]) == ("leads", "internal_error")
    assert base64.b64decode(dead["value_b64"]) == b"{not json"
    samples = deployment.metrics(worker)
    assert counter_total(samples, "leadstream_touchpoints_total", outcome="scored") == 3
    assert counter_total(samples, "leadstream_touchpoints_total", outcome="duplicate") == 1
    assert counter_total(samples, "leadstream_errors_total", kind="apply") == 1
    assert worker.alive
    worker.stop()
    state = deployment.leads()[lead]
    assert state.touchpoints == 3
    assert [event_id for event_id, _, _ in state.trail] == ["p-1", "p-2", "p-3"]


async def _one_batch(deployment: Deployment, topic: str, key: bytes, values: list[bytes]) -> None:
    """``values`` as one record batch: a fetch returns a batch whole, so the lead handler gets
    them in one call."""
    producer = AIOKafkaProducer(bootstrap_servers=deployment.broker.bootstrap_servers)
    await producer.start()
    try:
        partitions = sorted(await producer.partitions_for(topic))
        partition = DefaultPartitioner()(key, partitions, partitions)
        batch = producer.create_batch()
        for value in values:
            assert batch.append(key=key, value=value, timestamp=None) is not None
        batch.close()
        await (await producer.send_batch(batch, topic, partition=partition))
    finally:
        await producer.stop()
