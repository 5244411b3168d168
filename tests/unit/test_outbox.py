"""The outbox hands batches to aiokafka in order per partition, without making its caller wait for
the partition's previous batch to leave (aiokafka's ``send_batch`` does), and pushes back only when
too many batches of one partition are waiting."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from leadstream.streams import outbox as outbox_module
from leadstream.streams.outbox import Outbox


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

    async def _metadata(self, topic: str) -> None:
        return None

    def create_batch(self) -> Any:
        values: list[bytes] = []
        return SimpleNamespace(values=values, close=lambda: None,
                               append=lambda key, value, timestamp: values.append(value) or True)

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
    return Outbox(SimpleNamespace(_ensure_producer=lambda: kafka))


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


def test_batches_enter_in_the_order_they_were_sent_across_outboxes() -> None:
    async def scenario() -> None:
        kafka = _KafkaProducer()
        sent = 1 + outbox_module._QUEUED_PER_PARTITION  # one in the accumulator, the rest queued
        for n in range(sent):
            await _send(kafka, 0, b"%d" % n)
        for _ in range(sent):
            kafka.drain("out", 0)
            await _spin()
        assert [values for _, _, values in kafka.entered] == [[b"%d" % n] for n in range(sent)]

    asyncio.run(scenario())


def test_a_full_queue_makes_the_caller_wait() -> None:
    async def scenario() -> None:
        kafka = _KafkaProducer()
        await _send(kafka, 0, b"in")
        for n in range(outbox_module._QUEUED_PER_PARTITION):
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


def test_the_written_callback_gets_the_offset_of_a_queued_batch() -> None:
    async def scenario() -> None:
        kafka = _KafkaProducer()
        written: list[tuple[int, int]] = []
        await _send(kafka, 0, b"a")
        outbox = _outbox_factory(kafka)
        outbox.on_sent("out", lambda partition, offset: written.append((partition, offset)))
        outbox.add("out", b"k", b"b", partition=0)
        outbox.add("out", b"k", b"c", partition=0)
        [delivery] = await outbox.send()
        kafka.drain("out", 0)
        await _spin()
        kafka.deliveries[-1].set_result(SimpleNamespace(offset=40))
        await _spin()
        assert delivery.done()
        assert written == [(0, 41)]  # the batch's last record

    asyncio.run(scenario())


def test_a_step_after_another_outbox_runs_once_that_is_written_and_before_this_one_is_sent() -> None:
    async def scenario() -> None:
        kafka = _KafkaProducer()
        rest = _outbox_factory(kafka)
        first = _outbox_factory(kafka)
        rest.add("handover", b"k", b"queued before", partition=0)
        first.add("lead-messages", b"lead", b"hand-over", partition=1)
        steps: list[str] = []

        def write() -> None:
            steps.append("write")
            rest.add("changelog", b"k", b"state", partition=0)

        rest.after(first, write)
        assert steps == []  # nothing happens before the send
        sending = asyncio.ensure_future(rest.send())
        await _spin()
        assert [topic for topic, _, _ in kafka.entered] == ["lead-messages"]
        assert steps == [] and not sending.done()  # the hand-over is not written yet
        kafka.deliveries[0].set_result(SimpleNamespace(offset=7))
        await _spin()
        assert steps == ["write"]
        await asyncio.wait_for(sending, timeout=1)
        assert [topic for topic, _, _ in kafka.entered] == \
            ["lead-messages", "handover", "changelog"]
        assert len(sending.result()) == 2  # the step's records went out with this send
        assert await rest.send() == []  # and the step ran once

    asyncio.run(scenario())


def test_a_failed_first_outbox_runs_no_step_and_fails_the_send() -> None:
    async def scenario() -> None:
        kafka = _KafkaProducer()
        rest = _outbox_factory(kafka)
        first = _outbox_factory(kafka)
        first.add("lead-messages", b"lead", b"hand-over", partition=1)
        steps: list[str] = []
        rest.after(first, lambda: steps.append("write"))
        sending = asyncio.ensure_future(rest.send())
        await _spin()
        kafka.deliveries[0].set_exception(RuntimeError("not written"))
        with pytest.raises(RuntimeError, match="not written"):
            await asyncio.wait_for(sending, timeout=1)
        assert steps == []

    asyncio.run(scenario())
