"""The reference CRM connector (``leadstream connector``) as a process against the embedded
broker and a real PostgreSQL server: a realistic handover topic with copies re-published out of
order and unreadable records; the connector killed with SIGKILL at random points; afterwards the
database equals the topic folded by the pure rules (connector/fold.py), nothing lost or doubled,
and the CRM's verdict rows have reached lead-feedback exactly as the worker reads them."""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from leadstream.connector.events import ErasureEvent, MergeEvent, id_hash, parse_handover
from leadstream.connector.fold import fold
from leadstream.connector.store import Store, Verdict, snapshot_of
from leadstream.demo.observe import counter_total, scrape
from tests.handover_log import handover_records
from tests.integration.conftest import Deployment

pytestmark = pytest.mark.integration

_KILLS = 5


def _connector(deployment: Deployment, database: str, log: Path,
               metrics_port: int | None = None) -> subprocess.Popen[bytes]:
    env = {**os.environ, **deployment.env,
           **({"LEADSTREAM__CONNECTOR__METRICS_PORT": str(metrics_port)} if metrics_port else {}),
           "LEADSTREAM__KAFKA__BOOTSTRAP_SERVERS": deployment.broker.bootstrap_servers,
           "LEADSTREAM__KAFKA__FLAVOUR": "tansu",
           "LEADSTREAM__KAFKA__FETCH_MAX_WAIT_MS": "100",
           "LEADSTREAM__CONNECTOR__DATABASE": database,
           # small transactions: more places for a kill to land
           "LEADSTREAM__CONNECTOR__BATCH_MAX_RECORDS": "25",
           "LEADSTREAM__CONNECTOR__VERDICTS_INTERVAL_S": "0.2"}
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "leadstream", "connector"], env=env,
                                stdout=out, stderr=subprocess.STDOUT)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _samples(port: int, name: str) -> dict[frozenset[tuple[str, str]], float]:
    """The connector's samples of ``name`` by label set (none while it does not serve yet)."""
    try:
        return scrape(f"http://127.0.0.1:{port}/metrics").get(name, {})
    except OSError:
        return {}


def _lag(port: int) -> dict[str, float]:
    return {dict(labels)["partition"]: value
            for labels, value in _samples(port, "leadstream_connector_lag").items()}


def _read(store: Store, topic: str) -> int:
    return sum(store.offsets(topic).values())


def test_killed_connector_leaves_the_database_equal_to_the_folded_topic(
        deployment: Deployment, postgres: Any) -> None:
    rng = random.Random(5)
    records: list[tuple[bytes | None, bytes]] = list(handover_records(people=300, total=9000))
    # after a worker crash it publishes again what it had published since its last commit:
    # copies arrive later than records after them
    copies = rng.sample(records, len(records) // 5)
    unreadable: list[tuple[bytes | None, bytes]] = [(b"x", b"{not json"),
                                                    (b"y", b'{"kind": "stage_transition"}')]
    topic = deployment.topics["handover"]
    deployment.produce(records + unreadable + copies, topic=topic)
    total = len(records) + len(unreadable) + len(copies)

    database = postgres.create_database("connector")
    # the schema as an operator brings it up before the first start (`--migrate-only`)
    migrated = subprocess.run([sys.executable, "-m", "leadstream", "connector", "--migrate-only",
                               "--database", database], capture_output=True, text=True,
                              timeout=60, check=False)
    assert migrated.returncode == 0, migrated.stderr
    assert "at schema version 1 (applied now: [1])" in migrated.stderr
    store = Store.open(database)
    log = deployment.base / "connector.log"
    mid_stream_kills = 0
    try:
        for _ in range(_KILLS):
            process = _connector(deployment, database, log)
            # kill once it has written past a random point ahead: between two of its
            # transactions, or (mostly) in the middle of one
            target = _read(store, topic) + rng.randint(1, total // (_KILLS + 2))
            deadline = time.monotonic() + 60
            while _read(store, topic) < target and time.monotonic() < deadline:
                time.sleep(rng.uniform(0.0, 0.05))
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)
            if 0 < _read(store, topic) < total:
                mid_stream_kills += 1
        # what the CRM's buttons write, while the connector is down
        at = datetime(2026, 11, 30, 12, tzinfo=UTC)
        store.add_verdict(Verdict("crm-fb-1", "em-someone", "accepted", at, None, "greta.h", None))
        store.add_verdict(Verdict("crm-fb-2", "em-someone", "maybe", at, None, None, None))

        port = _free_port()
        process = _connector(deployment, database, log, metrics_port=port)
        deadline = time.monotonic() + 120
        while _read(store, topic) < total and time.monotonic() < deadline:
            time.sleep(0.3)
        feedback = deployment.consume("feedback", count=1, timeout=30, settle=0.5)
        # what an SRE scrapes: this run's counts (the verdicts were all sent by it)
        deployment.wait_for(lambda: counter_total(scrape(f"http://127.0.0.1:{port}/metrics"),
                                                  "leadstream_connector_verdicts_total",
                                                  outcome="refused") == 1,
                            timeout=30, what="the connector's metrics")
        # caught up: no partition has records the database lacks
        written = {str(partition) for partition in store.offsets(topic)}
        deployment.wait_for(lambda: (lag := _lag(port)).keys() >= written
                            and set(lag.values()) == {0.0},
                            timeout=30, what="the connector's lag down to 0 on every partition")
        samples = scrape(f"http://127.0.0.1:{port}/metrics")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0, log.read_text()[-3000:]

        assert _read(store, topic) == total, "the connector did not catch up"
        assert mid_stream_kills == _KILLS, f"only {mid_stream_kills} kills landed mid-stream"
        events = [parse_handover(value) for _, value in records + copies]
        snapshot = store.snapshot()
        assert snapshot == snapshot_of(fold(events))
        # the topic had merges and an erasure, and the tables show them
        merges = list({e.merge_id: e for e in events if isinstance(e, MergeEvent)}.values())
        erasure = next(e for e in events if isinstance(e, ErasureEvent))
        assert len(merges) == 2 and set(snapshot["merges"]) == {m.merge_id for m in merges}
        for merge in merges:
            assert merge.absorbed not in snapshot["leads"] and merge.survivor in snapshot["leads"]
        assert erasure.erase_id in snapshot["erasures"] and id_hash(erasure.lead_id) in snapshot["erased_ids"]
        assert not any(erasure.lead_id in (r["lead_id"], r["published_lead_id"])
                       for r in snapshot["transitions"].values()
                       if r["occurred_at"] <= erasure.occurred_at)
        assert sorted(r[3] for r in store.rejects()) == ["invalid_field", "invalid_json"]
        stages = store.leads_per_stage()
        assert sum(stages.values()) > 50 and stages.get("mql", 0) > 0

        assert [json.loads(m.value) for m in feedback] == [{
            "feedback_id": "crm-fb-1", "lead_id": "em-someone", "verdict": "accepted",
            "occurred_at": "2026-11-30T12:00:00Z", "owner": "greta.h"}]
        assert [m.key for m in feedback] == [b"em-someone"]
        assert store.pending_verdicts() == []
        assert counter_total(samples, "leadstream_connector_verdicts_total", outcome="sent") == 1
        assert counter_total(samples, "leadstream_connector_records_total", outcome="stored") > 0
        offsets = {dict(labels)["partition"]: value for labels, value in
                   samples["leadstream_connector_next_offset"].items()}
        assert sum(offsets.values()) <= total and offsets
    finally:
        store.close()
    print(f"connector: {total} records, {_KILLS} kills ({mid_stream_kills} mid-stream), "
          f"{sum(stages.values())} leads, per stage {stages}")


def _gauge(port: int, name: str) -> float | None:
    return _samples(port, name).get(frozenset())


def test_a_second_connector_stands_by_and_takes_over_from_a_killed_one(
        deployment: Deployment, postgres: Any) -> None:
    """Two connectors on one database: the second holds no Kafka client and writes nothing while
    the first lives; once the first is killed it takes over from the stored offsets."""
    records = list(handover_records(people=80, total=2400))
    half = len(records) // 2
    topic = deployment.topics["handover"]
    database = postgres.create_database("standby")
    store = Store.open(database)
    store.migrate()
    try:
        deployment.produce(records[:half], topic=topic)
        first_port, second_port = _free_port(), _free_port()
        first = _connector(deployment, database, deployment.base / "first.log", first_port)
        deployment.wait_for(lambda: _read(store, topic) == half, timeout=60,
                            what="the first connector writing the first half")
        second_log = deployment.base / "second.log"
        second = _connector(deployment, database, second_log, second_port)
        deployment.wait_for(lambda: _gauge(second_port, "leadstream_connector_active") == 0.0,
                            timeout=30, what="the second connector standing by")
        assert "standing by" in second_log.read_text()
        assert _gauge(first_port, "leadstream_connector_active") == 1.0

        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        deployment.produce(records[half:], topic=topic)
        deployment.wait_for(lambda: _read(store, topic) == len(records), timeout=60,
                            what="the second connector taking over and writing the rest")
        assert _gauge(second_port, "leadstream_connector_active") == 1.0
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=30) == 0, second_log.read_text()[-3000:]
        assert "takes over" in second_log.read_text()
        assert store.snapshot() == snapshot_of(fold([parse_handover(v) for _, v in records]))
    finally:
        store.close()
