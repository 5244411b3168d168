"""The fetch commit's order (first records → state → outputs), and the outbox under it.

The outbox hands batches to aiokafka in order per partition, without making its caller wait for
the partition's previous batch to leave (aiokafka's ``send_batch`` does); records sent while a
partition is busy share its next batch; it pushes back only when too many batches of one partition
are waiting."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from leadstream.streams.lane import FetchCommit
from leadstream.streams.lane import outbox as outbox_module
from leadstream.streams.lane.outbox import Outbox
from rocksdict import Options, Rdict

from tests.factories import faust_producer


class _Accumulator:
    def __init__(self) -> None:
        self._batches: dict[tuple[str, int], list[Any]] = {}


class _KafkaProducer:
    """aiokafka's rule: a partition's next batch enters the accumulator only after the previous
    one left (was drained into a produce request). Of several callers waiting for that, the last
    one goes first here: aiokafka promises no order among them, so the outbox must not rely on
    one."""

    def __init__(self) -> None:
        self._message_accumulator = _Accumulator()
        self.client = SimpleNamespace(_wait_on_metadata=self._metadata)
        self.entered: list[tuple[str, int, list[bytes]]] = []
        self.deliveries: list[asyncio.Future[Any]] = []
        self._drained: dict[tuple[str, int], list[asyncio.Future[None]]] = {}
        self.fail: Exception | None = None
        self.capacity: int | None = None  # records per batch (aiokafka: bytes)
        # keyed records: two partitions, every key to partition 0
        self._metadata = SimpleNamespace(partitions_for_topic=lambda topic: {0, 1},
                                         available_partitions_for_topic=lambda topic: [0, 1])
        self._partitioner = lambda key, every, available: 0

    async def _metadata(self, topic: str) -> None:
        return None

    def create_batch(self) -> Any:
        values: list[bytes] = []
        batch = SimpleNamespace(values=values, closed=False)

        def append(key: bytes | None, value: bytes, timestamp: int) -> Any:
            assert not batch.closed, "appended to a closed batch"
            if self.capacity is not None and len(values) >= self.capacity:
                return None  # full, as aiokafka's BatchBuilder answers
            values.append(value)
            return True

        batch.append = append
        batch.close = lambda: setattr(batch, "closed", True)
        return batch

    async def send_batch(self, batch: Any, topic: str, partition: int) -> asyncio.Future[Any]:
        tp = (topic, partition)
        while self._message_accumulator._batches.get(tp):
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._drained.setdefault(tp, []).append(waiter)
            await waiter
        if self.fail is not None:
            raise self.fail
        self._message_accumulator._batches[tp] = [batch]
        self.entered.append((topic, partition, batch.values))
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.deliveries.append(future)
        return future

    def drain(self, topic: str, partition: int) -> None:
        """The sender took the partition's batch into a request."""
        self._message_accumulator._batches[(topic, partition)] = []
        for waiter in reversed(self._drained.pop((topic, partition), [])):
            if not waiter.done():
                waiter.set_result(None)


def _outbox_factory(kafka: _KafkaProducer) -> Outbox:
    return Outbox(faust_producer(kafka))


async def _spin() -> None:
    for _ in range(10):
        await asyncio.sleep(0)


async def _send(kafka: _KafkaProducer, partition: int, *values: bytes) -> list[Any]:
    outbox = _outbox_factory(kafka)
    for value in values:
        outbox.add("out", b"k", value, partition=partition)
    return await asyncio.wait_for(outbox.send(), timeout=1)


def test_a_batch_behind_an_undrained_one_is_queued_not_awaited() -> None:
    async def scenario() -> None:
        kafka = _KafkaProducer()
        first = await _send(kafka, 0, b"a")
        second = await _send(kafka, 0, b"b")  # returns although partition 0 is not drained
        other = await _send(kafka, 1, b"x")  # another partition is not held up
        assert [values for _, _, values in kafka.entered] == [[b"a"], [b"x"]]
        kafka.drain("out", 0)
        await _spin()
        assert [values for _, p, values in kafka.entered if p == 0] == [[b"a"], [b"b"]]
        for delivery in kafka.deliveries:
            delivery.set_result(SimpleNamespace(offset=len(delivery.__class__.__name__)))
        await _spin()
        assert all(f.done() and f.exception() is None for f in first + second + other)

    asyncio.run(scenario())


def test_records_sent_while_the_partition_is_busy_share_its_next_batch_in_order() -> None:
    async def scenario() -> None:
        kafka = _KafkaProducer()
        await _send(kafka, 0, b"0")  # enters the accumulator at once
        queued = [await _send(kafka, 0, b"%d" % n, b"%d+" % n) for n in range(1, 4)]
        assert [values for _, _, values in kafka.entered] == [[b"0"]]
        kafka.drain("out", 0)
        await _spin()
        assert [values for _, _, values in kafka.entered] == \
            [[b"0"], [b"1", b"1+", b"2", b"2+", b"3", b"3+"]]
        assert all(futures[0] is queued[0][0] for futures in queued)  # one delivery for all
        await _send(kafka, 0, b"4")  # the entered batch takes no more records
        assert kafka.entered[-1][2] == [b"1", b"1+", b"2", b"2+", b"3", b"3+"]

    asyncio.run(scenario())


def test_a_full_open_batch_is_followed_by_another_in_order() -> None:
    async def scenario() -> None:
        kafka = _KafkaProducer()
        kafka.capacity = 2
        await _send(kafka, 0, b"a")
        await _send(kafka, 0, b"b", b"c", b"d")  # b, c fill one queued batch; d opens the next
        await _send(kafka, 0, b"e")
        for _ in range(3):
            kafka.drain("out", 0)
            await _spin()
        assert [values for _, _, values in kafka.entered] == [[b"a"], [b"b", b"c"], [b"d", b"e"]]

    asyncio.run(scenario())


def test_a_record_larger_than_a_batch_is_an_error_not_an_empty_batch() -> None:
    async def scenario() -> None:
        kafka = _KafkaProducer()
        kafka.capacity = 0
        with pytest.raises(ValueError, match="larger than one producer batch"):
            await _send(kafka, 0, b"huge")  # the partition is free
        kafka.capacity = None
        await _send(kafka, 0, b"a")
        kafka.capacity = 0
        with pytest.raises(ValueError, match="larger than one producer batch"):
            await _send(kafka, 0, b"huge")  # behind a busy partition
        await _spin()
        assert [values for _, _, values in kafka.entered] == [[b"a"]]

    asyncio.run(scenario())


def test_a_full_queue_makes_the_caller_wait() -> None:
    async def scenario() -> None:
        kafka = _KafkaProducer()
        kafka.capacity = 1
        await _send(kafka, 0, b"in")
        for n in range(outbox_module._QUEUED_PER_PARTITION):  # each fills a queued batch
            await _send(kafka, 0, b"%d" % n)
        blocked = asyncio.ensure_future(_send(kafka, 0, b"one too many"))
        await _spin()
        assert not blocked.done()
        kafka.drain("out", 0)
        await _spin()
        assert blocked.done()

    asyncio.run(scenario())


def test_a_batch_that_cannot_enter_fails_its_delivery_future() -> None:
    async def scenario() -> None:
        kafka = _KafkaProducer()
        await _send(kafka, 0, b"a")
        [queued] = await _send(kafka, 0, b"b")
        kafka.fail = RuntimeError("producer closed")
        kafka.drain("out", 0)
        await _spin()
        with pytest.raises(RuntimeError, match="producer closed"):
            queued.result()
        kafka.fail = None
        await _send(kafka, 0, b"c")  # the queue is usable again
        assert kafka.entered[-1][2] == [b"c"]

    asyncio.run(scenario())


def test_the_written_callback_gets_the_offset_of_each_outboxs_last_record() -> None:
    async def scenario() -> None:
        kafka = _KafkaProducer()
        written: list[tuple[str, int, int]] = []
        await _send(kafka, 0, b"a")
        deliveries = []
        for name, values in (("first", [b"b", b"c"]), ("second", [b"d"])):
            outbox = _outbox_factory(kafka)
            outbox.on_sent("out", lambda p, o, name=name: written.append((name, p, o)))
            for value in values:
                outbox.add("out", b"k", value, partition=0)
            deliveries += await outbox.send()
        kafka.drain("out", 0)
        await _spin()
        assert kafka.entered[-1][2] == [b"b", b"c", b"d"]  # both outboxes in one batch
        kafka.deliveries[-1].set_result(SimpleNamespace(offset=40))  # its base offset
        await _spin()
        assert all(d.done() for d in deliveries)
        assert written == [("first", 0, 41), ("second", 0, 42)]

    asyncio.run(scenario())


def test_a_batch_that_fails_to_enter_fails_every_outbox_that_shared_it() -> None:
    async def scenario() -> None:
        kafka = _KafkaProducer()
        await _send(kafka, 0, b"a")
        [one] = await _send(kafka, 0, b"b")
        [two] = await _send(kafka, 0, b"c")
        kafka.fail = RuntimeError("producer closed")
        kafka.drain("out", 0)
        await _spin()
        for delivery in (one, two):
            with pytest.raises(RuntimeError, match="producer closed"):
                delivery.result()

    asyncio.run(scenario())


def _table(tmp_path: Path) -> tuple[Any, Rdict, dict[int, int]]:
    """A RocksDB-backed table as the lane sees it (one partition's database, its changelog)."""
    db = Rdict(str(tmp_path / "leads-0"), options=Options(raw_mode=True))
    persisted: dict[int, int] = {}
    store = SimpleNamespace(_db_for_partition=lambda partition: db,
                            set_persisted_offset=lambda tp, offset: persisted.update(
                                {tp.partition: offset}))
    table = SimpleNamespace(name="leads", data=store, changelog_topic=SimpleNamespace(
        get_topic_name=lambda: "leads-changelog"))
    return table, db, persisted


def test_a_fetch_commit_writes_first_records_then_state_then_outputs(tmp_path: Path) -> None:
    async def scenario() -> None:
        kafka = _KafkaProducer()
        table, db, persisted = _table(tmp_path)
        commit = FetchCommit(faust_producer(kafka))
        seen: list[str] = []

        class Remember:
            def apply(self) -> None:  # an in-memory view: only of what RocksDB holds
                seen.append(f"memory sees {db.get(b'lead')!r}")

        commit.output("handover", b"lead", b"mql", partition=0)
        commit.first("lead-messages", b"lead", b"hand-over")
        commit.table(table).set(0, b"lead", b"state")
        commit.remember(Remember())
        assert commit.table(table) is commit.table(table)  # one buffer per table and fetch
        assert db.get(b"lead") is None and kafka.entered == []  # nothing before send()
        sending = asyncio.ensure_future(commit.send())
        await _spin()
        assert [topic for topic, _, _ in kafka.entered] == ["lead-messages"]
        assert db.get(b"lead") is None and seen == []  # the state waits for the hand-over
        kafka.deliveries[0].set_result(SimpleNamespace(offset=7))
        outputs = await asyncio.wait_for(sending, timeout=1)
        assert db.get(b"lead") == b"state"
        assert seen == ["memory sees b'state'"]
        assert [topic for topic, _, _ in kafka.entered] == \
            ["lead-messages", "handover", "leads-changelog"]
        assert len(outputs) == 2  # the lane acknowledges the input when these are done
        outputs[1].set_result(SimpleNamespace(offset=41))
        await _spin()
        assert persisted == {0: 41}  # recovery after a restart starts past it
        assert await commit.send() == [] and seen == ["memory sees b'state'"]  # once only

    asyncio.run(scenario())


def test_a_failed_first_record_writes_no_state_and_fails_the_send(tmp_path: Path) -> None:
    async def scenario() -> None:
        kafka = _KafkaProducer()
        table, db, _ = _table(tmp_path)
        commit = FetchCommit(faust_producer(kafka))
        seen: list[str] = []

        class Remember:
            def apply(self) -> None:
                seen.append("memory")

        commit.first("lead-messages", b"lead", b"hand-over")
        commit.table(table).set(0, b"lead", b"state")
        commit.remember(Remember())
        commit.output("handover", b"lead", b"mql")
        sending = asyncio.ensure_future(commit.send())
        await _spin()
        kafka.deliveries[0].set_exception(RuntimeError("not written"))
        with pytest.raises(RuntimeError, match="not written"):
            await asyncio.wait_for(sending, timeout=1)
        assert db.get(b"lead") is None and seen == []
        assert [topic for topic, _, _ in kafka.entered] == ["lead-messages"]

    asyncio.run(scenario())
