"""The outbox against the real aiokafka producer and broker: records of outboxes sent while their
partition is busy share batches, arrive complete and in order, and each outbox's written-callback
names the real offset of its own last record (what moves a table's persisted offset)."""

from __future__ import annotations

import asyncio
import time

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import TopicPartition
from leadstream.broker import EmbeddedBroker
from leadstream.streams.lane.outbox import Outbox

from tests.factories import faust_producer

pytestmark = pytest.mark.integration

_OUTBOXES = 60
_PER_OUTBOX = 5


def test_outboxes_sent_back_to_back_share_batches_in_order(broker: EmbeddedBroker) -> None:
    async def scenario() -> tuple[list[bytes], dict[int, int], dict[int, int], int]:
        topic = f"outbox-{time.monotonic_ns()}"
        producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap_servers)
        await producer.start()
        written: dict[int, int] = {}  # outbox number → offset its callback was given
        deliveries = []
        try:
            for n in range(_OUTBOXES):  # no wait between them: the partition stays busy
                outbox = Outbox(faust_producer(producer))
                outbox.on_sent(topic, lambda _p, offset, n=n: written.__setitem__(n, offset))
                for i in range(_PER_OUTBOX):
                    outbox.add(topic, b"k", b"%d:%d" % (n, i), partition=0)
                deliveries += await outbox.send()
            await asyncio.wait_for(asyncio.gather(*deliveries), timeout=30)
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap_servers,
                                    auto_offset_reset="earliest", enable_auto_commit=False)
        await consumer.start()
        values: list[bytes] = []
        offsets: dict[bytes, int] = {}
        try:
            tp = TopicPartition(topic, 0)
            consumer.assign([tp])
            deadline = time.monotonic() + 30
            while len(values) < _OUTBOXES * _PER_OUTBOX and time.monotonic() < deadline:
                for record in (await consumer.getmany(tp, timeout_ms=500)).get(tp, []):
                    values.append(record.value)
                    offsets[record.value] = record.offset
        finally:
            await consumer.stop()
        last = {n: offsets.get(b"%d:%d" % (n, _PER_OUTBOX - 1), -1) for n in range(_OUTBOXES)}
        return values, written, last, len({id(f) for f in deliveries})

    values, written, last, batches = asyncio.run(scenario())
    assert values == [b"%d:%d" % (n, i) for n in range(_OUTBOXES) for i in range(_PER_OUTBOX)]
    assert written == last  # each outbox's own last record, also inside a shared batch
    assert batches < _OUTBOXES  # later outboxes joined a queued batch
