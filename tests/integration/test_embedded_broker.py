"""The embedded broker's life cycle and the client-side shims it needs."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import TopicPartition

from leadstream.broker import EmbeddedBroker
from leadstream.broker.embedded import probe_metadata
from leadstream.broker.high_watermarks import high_watermarks
from leadstream.exceptions import EmbeddedBrokerError
from leadstream.streams.pipeline import changelog_topic
from leadstream.streams.prepare import ensure_topics, external_topics, prepare
from tests.integration.conftest import Deployment

pytestmark = pytest.mark.integration


def _gone(pid: int, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        # a zombie still answers kill(0); it is dead for our purposes
        try:
            with open(f"/proc/{pid}/stat") as stat:
                if stat.read().split()[2] == "Z":
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.05)
    return False


def test_start_answers_metadata_and_stop_leaves_no_process(tmp_path: Path) -> None:
    broker = EmbeddedBroker(log_path=tmp_path / "b.log").start()
    pid = broker.pid
    assert pid is not None and broker.running
    assert probe_metadata(broker.host, broker.port or 0)
    broker.stop()
    assert _gone(pid)
    assert not probe_metadata(broker.host, broker.port or 0)


def test_broker_dies_with_the_process_that_started_it(tmp_path: Path) -> None:
    """Even a SIGKILLed parent (a crashed test run) leaves no orphan broker behind."""
    script = (
        "import sys, time; from leadstream.broker import EmbeddedBroker\n"
        "b = EmbeddedBroker().start(); print(b.pid, flush=True); time.sleep(60)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    broker_pid = int(parent.stdout.readline())
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    assert _gone(broker_pid), "broker outlived its SIGKILLed parent"


def test_taken_port_is_a_clear_error(broker: EmbeddedBroker) -> None:
    with pytest.raises(EmbeddedBrokerError, match="already in use"):
        EmbeddedBroker(port=broker.port).start(timeout=5)


def test_high_watermark_shim_is_right_where_list_offsets_is_wrong(broker: EmbeddedBroker) -> None:
    async def scenario() -> tuple[int, int]:
        admin_topic = f"hw-{time.monotonic_ns()}"
        producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap_servers, linger_ms=200)
        await producer.start()
        futures = [await producer.send(admin_topic, b"x", partition=0) for _ in range(5)]
        await producer.flush()
        await asyncio.gather(*futures)
        await producer.stop()
        consumer = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap_servers)
        await consumer.start()
        try:
            tp = TopicPartition(admin_topic, 0)
            listed = (await consumer.end_offsets([tp]))[tp]
            fetched = (await high_watermarks(consumer._client, [tp]))[tp]
        finally:
            await consumer.stop()
        return listed, fetched

    listed, fetched = asyncio.run(scenario())
    assert fetched == 5
    # The embedded broker's ListOffsets defect (README). If this fails, Tansu answers ListOffsets right and the shim can go.
    assert listed == 1


def test_prepare_creates_topics_and_wipes_state_without_a_changelog(deployment: Deployment) -> None:
    state_dir = deployment.base / "stale-state"
    (state_dir / "v1" / "tables").mkdir(parents=True)
    (state_dir / "v1" / "tables" / "leftover").write_text("from another broker incarnation")
    settings = deployment.settings(state_dir)
    asyncio.run(prepare(settings))
    assert state_dir.exists() and not any(state_dir.iterdir())
    assert asyncio.run(ensure_topics(settings)) == []  # all there now
    assert changelog_topic(settings) not in external_topics(settings)


def test_topics_create_makes_every_topic_of_the_plan(deployment: Deployment) -> None:
    """`leadstream topics create` (the Kubernetes topics Job) creates the whole plan — inputs,
    outputs, the internal lead-messages topic and the changelogs — with the configured partition
    count, and a second run finds nothing to do."""
    from leadstream.streams.prepare import topic_plan

    env = {k: v for k, v in os.environ.items() if not k.startswith("LEADSTREAM")}
    env.update(deployment.env)
    env.update({"LEADSTREAM__KAFKA__BOOTSTRAP_SERVERS": deployment.broker.bootstrap_servers,
                "LEADSTREAM__KAFKA__FLAVOUR": "tansu", "LEADSTREAM__TOPICS__PARTITIONS": "3"})
    env.pop("LEADSTREAM__WEB__AUTH", None)  # a client command: no API, no token needed

    def topics_create() -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "leadstream", "topics", "create"], env=env,
                              capture_output=True, text=True, timeout=120, check=False)

    first = topics_create()
    assert first.returncode == 0, first.stderr
    settings = deployment.settings()
    plan = [spec.name for spec in topic_plan(settings)]
    assert f"created {len(plan)} topic(s)" in first.stdout

    async def partitions() -> dict[str, int]:
        consumer = AIOKafkaConsumer(bootstrap_servers=deployment.broker.bootstrap_servers)
        await consumer.start()
        try:
            return {name: len(consumer.partitions_for_topic(name) or ())
                    for name in await consumer.topics() if name in plan}
        finally:
            await consumer.stop()

    assert asyncio.run(partitions()) == {name: 3 for name in plan}
    again = topics_create()
    assert again.returncode == 0 and "created 0 topic(s) (all existed)" in again.stdout
