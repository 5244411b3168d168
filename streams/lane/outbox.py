"""Outbox: records produced while a batch is handled, sent as one Kafka batch per partition.

``topic.send`` in Faust awaits aiokafka's ``send`` per record (metadata wait, accumulator lock, a
future per record). The outbox appends records to aiokafka ``BatchBuilder``s instead and submits
each with ``send_batch``, one future per partition batch. Keyed records are partitioned by the
producer's own partitioner (murmur2 on real Kafka), so they land where ``topic.send`` would have put
them; the partition can also be given explicitly (table changelogs: the input's partition).

Records go out in the order they were added, per partition. The batch lane acknowledges an input
batch only when the futures :meth:`Outbox.send` returns have succeeded
(:class:`~leadstream.streams.lane.commit.FetchCommit` owns that order).

Handing a batch to aiokafka never blocks the caller. aiokafka takes a partition's next batch into
its accumulator only once the previous one has left in a produce request, and it keeps one request
in flight per broker; ``send_batch`` waits for that. With a batch per output partition and fetch,
the worker's loop would wait there at a steady rate with nothing else to do (measured in
benchmarks/HISTORY.md). So records that would wait are queued behind the
partition's previous batch instead (:class:`_Queue`, per producer and partition, first in first
out across every outbox), and the caller gets their delivery future at once. The newest queued
batch takes the records of later outboxes until it can enter, so a busy partition gets about one
batch per produce request. At most ``_QUEUED_PER_PARTITION`` batches wait per partition; past that
the caller waits: back-pressure when the broker is slower than the worker.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.producer.message_accumulator import BatchBuilder
from faust.exceptions import NotReady
from faust.types import ProducerT

from leadstream.streams.lane import upstream

__all__ = ["Outbox", "Sent", "partition_for"]

_PARTITION_CACHE_LIMIT = 200_000
_partition_cache: dict[tuple[bytes, int], int] = {}

_QUEUED_PER_PARTITION = 2

Sent = Callable[[int, int], None]
"""Called with (partition, offset of the last record) when a partition batch is written."""


class Outbox:
    """Collects records until they are sent; empty again after each :meth:`send`. Not shared
    between concurrent handlers."""

    def __init__(self, producer: ProducerT) -> None:
        self._faust_producer = producer
        self._pending: dict[tuple[str, int], list[tuple[bytes | None, bytes | None, int]]] = {}
        self._keyed: list[tuple[str, bytes | None, bytes | None, int]] = []
        self._on_sent: dict[str, Sent] = {}
        self._known_topics: set[str] = set()

    def __len__(self) -> int:
        """Records queued."""
        return len(self._keyed) + sum(len(v) for v in self._pending.values())

    def add(self, topic: str, key: bytes | None, value: bytes | None, *,
            partition: int | None = None) -> None:
        """Queue a record stamped now; ``partition=None`` lets the producer's partitioner choose
        (by key; a record without a key goes to a random partition)."""
        ts = int(time.time() * 1000)
        if partition is None:
            self._keyed.append((topic, key, value, ts))
        else:
            self._pending.setdefault((topic, partition), []).append((key, value, ts))

    def on_sent(self, topic: str, callback: Sent) -> None:
        """Call ``callback(partition, last_offset)`` for every batch written to ``topic``."""
        self._on_sent[topic] = callback

    async def send(self) -> list[asyncio.Future[Any]]:
        """Hand everything queued to aiokafka; return the futures of its partition batches."""
        if not self._keyed and not self._pending:
            return []
        producer = upstream.kafka_producer(self._faust_producer)
        for topic in {t for t, *_ in self._keyed} | {t for t, _ in self._pending}:
            if topic not in self._known_topics:
                await upstream.wait_for_topic(producer, topic)
                self._known_topics.add(topic)
        if self._keyed:
            pending = self._pending
            partitioner = upstream.partitioner(producer)
            partitions: dict[str, tuple[list[int], list[int]]] = {}
            cache = _partition_cache
            for topic, key, value, ts in self._keyed:
                if topic not in partitions:
                    partitions[topic] = upstream.partitions_of(producer, topic)
                every, available = partitions[topic]
                if key is None:
                    partition = partitioner(key, every, available)
                else:
                    partition = cache.get((key, len(every)), -1)
                    if partition < 0:
                        partition = _keyed_partition(partitioner, key, every, available)
                pending.setdefault((topic, partition), []).append((key, value, ts))
            self._keyed = []
        futures: list[asyncio.Future[Any]] = []
        for (topic, partition), records in self._pending.items():
            futures.extend(await self._send_partition(producer, topic, partition, records))
        self._pending = {}
        return futures

    async def flush(self) -> None:
        """Send everything queued and wait until the broker has all of it."""
        await asyncio.gather(*await self.send())

    async def _send_partition(self, producer: AIOKafkaProducer, topic: str, partition: int,
                              records: list[tuple[bytes | None, bytes | None, int]],
                              ) -> list[asyncio.Future[Any]]:
        placed = await _Queue.of(producer, topic, partition).put(records)
        callback = self._on_sent.get(topic)
        if callback is not None:
            for future, last in placed:
                future.add_done_callback(_written(callback, partition, last))
        return [future for future, _ in placed]


def partition_for(faust_producer: ProducerT, topic: str, key: bytes) -> int | None:
    """The partition a record with ``key`` goes to, as :meth:`Outbox.send` picks it; ``None``
    while the producer has no metadata for ``topic``."""
    try:
        producer = upstream.kafka_producer(faust_producer)
    except NotReady:
        return None
    every, available = upstream.partitions_of(producer, topic)
    if not every:
        return None
    partition = _partition_cache.get((key, len(every)), -1)
    if partition >= 0:
        return partition
    return _keyed_partition(upstream.partitioner(producer), key, every, available)


def _keyed_partition(partitioner: Callable[[bytes | None, list[int], list[int]], int], key: bytes, every: list[int], available: list[int]) -> int:
    # a keyed record's partition depends only on the key and the partition count (murmur2, pure
    # Python in aiokafka: worth remembering for hot keys)
    partition: int = partitioner(key, every, available)
    if len(_partition_cache) >= _PARTITION_CACHE_LIMIT:
        _partition_cache.clear()
    _partition_cache[(key, len(every))] = partition
    return partition


def _written(callback: Sent, partition: int, last: int) -> Callable[[asyncio.Future[Any]], None]:
    """``callback(partition, offset)`` for the record at index ``last`` of a written batch."""
    def done(fut: asyncio.Future[Any]) -> None:
        if not fut.cancelled() and fut.exception() is None and fut.result() is not None:
            callback(partition, fut.result().offset + last)  # a batch's result is its base offset
    return done


# BatchBuilder.append documents its timestamp in seconds, but the record builder takes integer
# milliseconds (as ``send(timestamp_ms=...)`` passes them); seconds give 1970 timestamps.
def _fill(batch: BatchBuilder, records: list[tuple[bytes | None, bytes | None, int]], start: int) -> int:
    """Append ``records[start:]`` to ``batch`` until it is full; return how many went in."""
    n = 0
    for key, value, ts in records[start:] if start else records:
        if batch.append(key=key, value=value, timestamp=ts) is None:
            break
        n += 1
    return n


class _Open:
    """A queued batch that still takes records: it waits for the partition's batch ahead of it."""

    __slots__ = ("batch", "count", "delivered")

    def __init__(self, batch: BatchBuilder, delivered: asyncio.Future[Any]) -> None:
        self.batch = batch
        self.count = 0
        self.delivered = delivered


class _Queue:
    """Batches of one producer and partition waiting to enter aiokafka's accumulator, in the order
    their records were submitted.

    The newest waiting batch stays open: records submitted while it waits are appended to it
    rather than queued as batches of their own (as a Kafka producer's records gather in a
    partition's batch while a request is in flight). With one request in flight per broker
    connection, every partition's next batch waits for the whole request; appending keeps the
    batches per partition at about one per request, where there was one per handled fetch
    (benchmarks/HISTORY.md has the measurements). The
    embedded broker's fetches slow down with every batch stored ahead of the fetch offset
    (broker_hop.py), so the worker's own topics also grow slower to read."""

    _queues: weakref.WeakKeyDictionary[AIOKafkaProducer, dict[tuple[str, int], _Queue]] = \
        weakref.WeakKeyDictionary()

    __slots__ = ("_producer", "_topic", "_partition", "_waiting", "_open", "_tasks")

    def __init__(self, producer: AIOKafkaProducer, topic: str, partition: int) -> None:
        self._producer = producer
        self._topic = topic
        self._partition = partition
        # one future per queued batch, oldest first: done when that batch is in the accumulator
        self._waiting: deque[asyncio.Future[None]] = deque()
        self._open: _Open | None = None  # the newest queued batch, while it takes records
        self._tasks: set[asyncio.Task[None]] = set()

    @classmethod
    def of(cls, producer: AIOKafkaProducer, topic: str, partition: int) -> _Queue:
        queues = cls._queues.get(producer)
        if queues is None:
            queues = cls._queues[producer] = {}
        queue = queues.get((topic, partition))
        if queue is None:
            queue = queues[(topic, partition)] = cls(producer, topic, partition)
        return queue

    async def put(self, records: list[tuple[bytes | None, bytes | None, int]],
                  ) -> list[tuple[asyncio.Future[Any], int]]:
        """Hand ``records`` (key, value, timestamp ms) over in order; return, per batch they went
        into, its delivery future (as ``send_batch`` returns it) and the index in that batch of
        the last of them. Waits only when too many batches of the partition are queued."""
        placed: list[tuple[asyncio.Future[Any], int]] = []
        start = 0
        while start < len(records):
            tail = self._open
            if tail is None:
                if not self._waiting and not self._pending_in_accumulator():
                    # nothing ahead: send_batch takes a new batch without waiting
                    batch = self._producer.create_batch()
                    n = self._first(batch, records, start)
                    batch.close()
                    delivered: asyncio.Future[Any] = await self._producer.send_batch(
                        batch, self._topic, partition=self._partition)
                    placed.append((delivered, n - 1))
                    start += n
                    continue
                if len(self._waiting) >= _QUEUED_PER_PARTITION:
                    await asyncio.shield(self._waiting[0])
                    continue  # look again: the partition may be free, or a batch open
                tail = self._queue_open(records, start)
                placed.append((tail.delivered, tail.count - 1))
                start += tail.count
                continue
            n = _fill(tail.batch, records, start)
            if n == 0:
                self._open = None  # full: the next records open a batch behind it
                continue
            tail.count += n
            placed.append((tail.delivered, tail.count - 1))
            start += n
        return placed

    def _first(self, batch: BatchBuilder, records: list[tuple[bytes | None, bytes | None, int]],
               start: int) -> int:
        n = _fill(batch, records, start)
        if n == 0:
            raise ValueError(f"a record for {self._topic} is larger than one producer batch")
        return n

    def _queue_open(self, records: list[tuple[bytes | None, bytes | None, int]],
                    start: int) -> _Open:
        """A new open batch behind the queued ones, holding records from ``start`` on."""
        loop = asyncio.get_running_loop()
        tail = _Open(self._producer.create_batch(), loop.create_future())
        tail.count = self._first(tail.batch, records, start)
        ahead = self._waiting[-1] if self._waiting else None
        entered: asyncio.Future[None] = loop.create_future()
        self._waiting.append(entered)
        self._open = tail
        task = loop.create_task(self._enter(tail, ahead, entered))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return tail

    def _pending_in_accumulator(self) -> bool:
        return upstream.has_batch_in_accumulator(self._producer, self._topic, self._partition)

    async def _enter(self, tail: _Open, ahead: asyncio.Future[None] | None,
                     entered: asyncio.Future[None]) -> None:
        delivered = tail.delivered
        try:
            if ahead is not None:
                await asyncio.shield(ahead)  # a cancelled wait must not cancel the one ahead
            # send_batch waits until the partition's batch ahead has left in a request; the batch
            # takes more records meanwhile (aiokafka's BatchBuilder.close documents leaving a
            # submitted batch open; one built early answers appends with None, "full", and the
            # next records open a new batch), and none once it is in the accumulator (below,
            # before the loop runs anything else)
            inner = await self._producer.send_batch(
                tail.batch, self._topic, partition=self._partition)
        except BaseException as exc:  # noqa: BLE001 - handed to whoever awaits the delivery
            if isinstance(exc, asyncio.CancelledError):
                delivered.cancel()
            else:
                delivered.set_exception(exc)
            return
        finally:
            if self._open is tail:
                self._open = None
            tail.batch.close()
            self._waiting.remove(entered)  # the oldest, unless cancelled at shutdown
            entered.set_result(None)
        _chain(inner, delivered)


def _chain(source: asyncio.Future[Any], target: asyncio.Future[Any]) -> None:
    def copy(fut: asyncio.Future[Any]) -> None:
        if target.done():
            return
        if fut.cancelled():
            target.cancel()
        elif fut.exception() is not None:
            target.set_exception(fut.exception())  # type: ignore[arg-type]
        else:
            target.set_result(fut.result())
    source.add_done_callback(copy)
