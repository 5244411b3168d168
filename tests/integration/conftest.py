"""Integration fixtures: one real Tansu broker per session; isolated deployments on it.

Each deployment has its own app id (consumer group, changelog) and topic names, so tests share
the broker without seeing each other's data.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from leadstream.broker import EmbeddedBroker
from leadstream.config import load_settings
from leadstream.core.state import LeadState
from leadstream.demo.observe import scrape
from leadstream.demo.worker_process import WorkerProcess
from leadstream.streams.ops.state_dump import read_leads, read_table

pytestmark = pytest.mark.integration

_counter = itertools.count(1)
_QUICK_REJOIN = {
    "LEADSTREAM__KAFKA__SESSION_TIMEOUT_S": "3",
    "LEADSTREAM__KAFKA__HEARTBEAT_INTERVAL_S": "0.5",
    "LEADSTREAM__KAFKA__REBALANCE_TIMEOUT_S": "5",
}


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    log = tmp_path_factory.mktemp("broker") / "tansu.log"
    with EmbeddedBroker(log_path=log) as running:
        yield running
    assert not running.running


@dataclass
class Deployment:
    """One leadstream app (its topics, group and workers) on the shared broker."""

    broker: EmbeddedBroker
    name: str
    base: Path
    workers: list[WorkerProcess] = field(default_factory=list)
    env_overrides: dict[str, str] = field(default_factory=dict)
    #: shorter group timeouts than the product's Tansu defaults (6 / 1 / 10 s): on Tansu a join
    #: is held for half the session timeout, and a restart after kill -9 waits out the rebalance
    #: timeout for the dead member, so each start costs ~1 s and each kill ~5 s less. What the
    #: tests check does not depend on them; a test that measures a join (the takeover) turns
    #: this off.
    quick_rejoin: bool = True
    #: workers join as static members (kafka.group_instance_id = deployment and worker name);
    #: one worker only on the embedded broker (README, "The embedded broker")
    static_membership: bool = False

    @property
    def topics(self) -> dict[str, str]:
        return {k: f"{self.name}-{k}"
                for k in ("touchpoints", "handover", "nurture", "dlq", "feedback", "commands")}

    @property
    def env(self) -> dict[str, str]:
        t = self.topics
        return {
            "LEADSTREAM__APP_ID": self.name,
            "LEADSTREAM__TOPICS__TOUCHPOINTS": t["touchpoints"],
            "LEADSTREAM__TOPICS__HANDOVER": t["handover"],
            "LEADSTREAM__TOPICS__NURTURE": t["nurture"],
            "LEADSTREAM__TOPICS__DLQ": t["dlq"],
            "LEADSTREAM__TOPICS__FEEDBACK": t["feedback"],
            "LEADSTREAM__TOPICS__COMMANDS": t["commands"],
            "LEADSTREAM__LOG__LEVEL": "info",
            # the API's authentication has its own test (test_http_api.py)
            "LEADSTREAM__WEB__AUTH": "none",
            # Test event times are fixed in the past, so deadlines would fire at once and add
            # events to every journey; tests of time turn ticks on (tests/integration/test_ticks.py).
            "LEADSTREAM__TICKS__ENABLED": "false",
            **(_QUICK_REJOIN if self.quick_rejoin else {}),
            **self.env_overrides,
        }

    def settings(self, state_dir: Path | None = None) -> Any:
        env = {**self.env, "LEADSTREAM__KAFKA__BOOTSTRAP_SERVERS": self.broker.bootstrap_servers,
               "LEADSTREAM__KAFKA__FLAVOUR": "tansu",
               "LEADSTREAM__STATE__DIR": str(state_dir or self.base / "state")}
        return load_settings(environ=env)

    def state_dir(self, worker: str = "w1") -> Path:
        return self.base / f"state-{worker}"

    def start_worker(self, worker: str = "w1", *, ready: bool = True) -> WorkerProcess:
        env = dict(self.env)
        if self.static_membership:
            # one stable id per worker name, as a StatefulSet's pod names give: a worker killed
            # and started again under its name takes its place at once
            env.setdefault("LEADSTREAM__KAFKA__GROUP_INSTANCE_ID", f"{self.name}-{worker}")
        process = WorkerProcess(
            bootstrap_servers=self.broker.bootstrap_servers,
            state_dir=self.state_dir(worker),
            log_path=self.base / f"{worker}.log",
            extra_env=env,
        ).start()
        self.workers.append(process)
        if ready:
            process.wait_ready(timeout=90)
        return process

    # -- talking to the broker ------------------------------------------------------------------

    def produce(self, records: list[tuple[bytes | None, bytes]], topic: str | None = None) -> None:
        asyncio.run(self._produce(records, topic or self.topics["touchpoints"]))

    async def _produce(self, records: list[tuple[bytes | None, bytes]], topic: str) -> None:
        producer = AIOKafkaProducer(bootstrap_servers=self.broker.bootstrap_servers, linger_ms=5)
        await producer.start()
        try:
            for key, value in records:
                await producer.send(topic, value, key=key)
            await producer.flush()
        finally:
            await producer.stop()

    def consume(self, topic: str, *, count: int, timeout: float = 60.0, settle: float = 0.75,
                counts: Callable[[Any], bool] | None = None) -> list[Any]:
        """Every record of ``topic`` from the start, once at least ``count`` arrived (+ settle);
        with ``counts``, only records it accepts count. ``settle`` catches records a test does
        not expect (copies, extra events): they leave the worker with the batch that made the
        expected ones, well within it (fetch wait 100 ms on the embedded broker)."""
        return asyncio.run(self._consume(self.topics.get(topic, topic), count, timeout, settle,
                                         counts))

    async def _consume(self, topic: str, count: int, timeout: float, settle: float,
                       counts: Callable[[Any], bool] | None = None) -> list[Any]:
        consumer = AIOKafkaConsumer(
            topic, bootstrap_servers=self.broker.bootstrap_servers,
            auto_offset_reset="earliest", group_id=None, fetch_max_wait_ms=100,
        )
        await consumer.start()
        out: list[Any] = []
        try:
            deadline = time.monotonic() + timeout
            settle_until: float | None = None
            counted = 0
            while time.monotonic() < deadline:
                batches = await consumer.getmany(timeout_ms=200)
                for messages in batches.values():
                    out.extend(messages)
                    counted += len(messages) if counts is None else sum(map(counts, messages))
                if counted >= count and settle_until is None:
                    settle_until = time.monotonic() + settle
                if settle_until is not None and time.monotonic() >= settle_until:
                    break
        finally:
            await consumer.stop()
        out.sort(key=lambda m: (m.partition, m.offset))
        return out

    def handovers(self, count: int, *, consent: bool = False, updates: bool = False,
                  accounts: bool = False, **kwargs: Any) -> list[dict[str, Any]]:
        """Handover records; ``consent_changed`` ones only with ``consent=True``,
        ``lead_changed`` updates only with ``updates=True`` and ``account_engaged`` only with
        ``accounts=True`` (most tests follow the lifecycle; every demo request also states
        renewed consent, most touchpoints change the view)."""
        def wanted(message: Any) -> bool:
            return ((consent or b'"kind":"consent_changed"' not in message.value)
                    and (updates or b'"reason":"lead_changed"' not in message.value)
                    and (accounts or b'"kind":"account_engaged"' not in message.value))

        records = self.consume("handover", count=count, counts=wanted, **kwargs)
        return [json.loads(m.value) for m in records if wanted(m)]

    def metrics(self, worker: WorkerProcess) -> Any:
        return scrape(worker.metrics_url)

    def wait_for(self, predicate: Any, timeout: float = 60.0, what: str = "condition") -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.2)
        raise AssertionError(f"timed out after {timeout}s waiting for {what}")

    def recovery_highwaters(self, worker: str = "w1", table: str = "leads") -> dict[int, int]:
        """The changelog highwaters the worker's last recovery aimed for, from Faust's log table."""
        text = (self.base / f"{worker}.log").read_text(errors="replace")
        block = text.rsplit("Highwater for active changelog partitions:", 1)[1]
        block = block.split("active offsets at start of reading", 1)[0]
        wanted, current, out = f"{self.name}-{table}-changelog", None, {}
        for name, partition, high in re.findall(r"^\|\s*(\S+)\s*\|\s*(\d+)\s*\|\s*(-?\d+)\s*\|", block, re.M):
            current = current if name == "\u3003" else name  # Faust writes 〃 for "same topic"
            if current == wanted:
                out[int(partition)] = int(high)
        return out

    def table(self, name: str, worker: str = "w1") -> dict[bytes, bytes]:
        """One table of a stopped worker, raw, read from its RocksDB files."""
        return read_table(self.state_dir(worker), name)

    def leads(self, worker: str = "w1") -> dict[str, LeadState]:
        """The lead table of a stopped worker, read from its RocksDB files."""
        return read_leads(self.state_dir(worker))

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()


@pytest.fixture
def deployment(broker: EmbeddedBroker, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Deployment]:
    slug = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower())[:40].strip("-")
    created = Deployment(broker=broker, name=f"t{next(_counter)}-{slug}", base=tmp_path)
    yield created
    created.stop()
    for worker in created.workers:
        assert not worker.alive


def http_get(url: str, token: str | None = None) -> tuple[int, Any]:
    """GET a worker's JSON endpoint: ``(status, body)``, also for error statuses."""
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.fixture(scope="session")
def postgres() -> Iterator[Any]:
    """One throwaway PostgreSQL server for the session (tests/postgres.py)."""
    import os

    from tests.postgres import ThrowawayPostgres, find_bindir

    bindir = find_bindir()
    if bindir is None:
        if os.environ.get("LEADSTREAM_REQUIRE_POSTGRES") == "1":
            pytest.fail("PostgreSQL is required (CI) but Debian's postgresql is not installed")
        pytest.skip("Debian's postgresql is not installed (./dev test installs it)")
    server = ThrowawayPostgres(bindir).start()
    try:
        yield server
    finally:
        server.stop()
