"""Outbox: records produced while a batch is handled, sent as one Kafka batch per partition.

``topic.send`` in Faust awaits aiokafka's ``send`` per record (metadata wait, accumulator lock, a
future per record). The outbox appends records to aiokafka ``BatchBuilder``s instead and submits
each with ``send_batch``, one future per partition batch. Keyed records are partitioned by the
producer's own partitioner (murmur2 on real Kafka), so they land where ``topic.send`` would have put
them; the partition can also be given explicitly (table changelogs: the input's partition).

Records go out in the order they were added, per partition. The batch lane acknowledges an input
batch only when the futures :meth:`Outbox.send` returns have succeeded.

Handing a batch to aiokafka never blocks the caller. aiokafka takes a partition's next batch into
its accumulator only once the previous one has left in a produce request, and it keeps one request
in flight per broker; ``send_batch`` waits for that. With a batch per output partition and fetch,
the worker's loop waited there for ~4-14 % of the time at a steady 2,500 touchpoints/s
(benchmarks/README.md), with nothing else to do. So a batch that would wait is queued behind the
partition's previous one instead (:class:`_Queue`, per producer and partition, first in first out
across every outbox), and the caller gets its delivery future at once. At most
``_QUEUED_PER_PARTITION`` batches wait per partition; past that the caller waits: back-pressure when
the broker is slower than the worker.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any

__all__ = ["Outbox", "Sent"]

_PARTITION_CACHE_LIMIT = 200_000
_partition_cache: dict[tuple[bytes, int], int] = {}

_QUEUED_PER_PARTITION = 2

Sent = Callable[[int, int], None]
"""Called with (partition, offset of the last record) when a partition batch is written."""


class Outbox:
    """Collects records until they are sent; empty again after each :meth:`send`. Not shared
    between concurrent handlers."""

    def __init__(self, producer: Any) -> None:
        self._faust_producer = producer
        self._pending: dict[tuple[str, int], list[tuple[bytes | None, bytes | None, int]]] = {}
        self._keyed: list[tuple[str, bytes | None, bytes | None, int]] = []
        self._on_sent: dict[str, Sent] = {}
        self._known_topics: set[str] = set()
        self._after: list[tuple[Outbox, Callable[[], None]]] = []

    def __len__(self) -> int:
        """Records queued (not counting those of the outboxes passed to :meth:`after`)."""
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

    def after(self, first: Outbox, step: Callable[[], None]) -> None:
        """At the next :meth:`send`, before anything queued here: send ``first``, wait until
        the broker has all of it, then call ``step()`` (which may queue more records here).

        For effects that must not outrun ``first``: the lead handler's state writes wait for a
        visitor's hand-over. Deferred to the send, the waits of every batch in a fetch become one
        (the worker's loop had waited for each, 7-19 % of the time at 2,500 touchpoints/s)."""
        self._after.append((first, step))

    async def send(self) -> list[asyncio.Future[Any]]:
        """Hand everything queued to aiokafka; return the futures of its partition batches."""
        if self._after:
            await self._run_after()
        if not self._keyed and not self._pending:
            return []
        producer = self._faust_producer._ensure_producer()
        for topic in {t for t, *_ in self._keyed} | {t for t, _ in self._pending}:
            if topic not in self._known_topics:
                await producer.client._wait_on_metadata(topic)
                self._known_topics.add(topic)
        if self._keyed:
            pending = self._pending
            metadata = producer._metadata
            partitioner = producer._partitioner
            partitions: dict[str, tuple[list[int], list[int]]] = {}
            cache = _partition_cache
            for topic, key, value, ts in self._keyed:
                if topic not in partitions:
                    partitions[topic] = (sorted(metadata.partitions_for_topic(topic)),
                                         list(metadata.available_partitions_for_topic(topic)))
                every, available = partitions[topic]
                if key is None:
                    partition = partitioner(key, every, available)
                else:
                    # a keyed record's partition depends only on the key and the partition count
                    # (murmur2, pure Python in aiokafka: worth remembering for hot keys)
                    slot = (key, len(every))
                    partition = cache.get(slot, -1)
                    if partition < 0:
                        partition = partitioner(key, every, available)
                        if len(cache) >= _PARTITION_CACHE_LIMIT:
                            cache.clear()
                        cache[slot] = partition
                pending.setdefault((topic, partition), []).append((key, value, ts))
            self._keyed = []
        futures: list[asyncio.Future[Any]] = []
        for (topic, partition), records in self._pending.items():
            futures.extend(await self._send_partition(producer, topic, partition, records))
        self._pending = {}
        return futures

    async def _run_after(self) -> None:
        after, self._after = self._after, []
        written: list[asyncio.Future[Any]] = []
        for first, _ in after:
            written.extend(await first.send())
        await asyncio.gather(*written)
        for _, step in after:
            step()

    async def flush(self) -> None:
        """Send everything queued and wait until the broker has all of it."""
        await asyncio.gather(*await self.send())

    # BatchBuilder.append documents its timestamp in seconds, but the record builder takes integer
    # milliseconds (as ``send(timestamp_ms=...)`` passes them); seconds give 1970 timestamps.
    async def _send_partition(self, producer: Any, topic: str, partition: int,
                              records: list[tuple[bytes | None, bytes | None, int]],
                              ) -> list[asyncio.Future[Any]]:
        futures = []
        batch = producer.create_batch()
        count = 0
        for key, value, ts in records:
            if batch.append(key=key, value=value, timestamp=ts) is None:
                if count == 0:
                    raise ValueError(f"a record for {topic} is larger than one producer batch")
                futures.append(await self._submit(producer, batch, topic, partition, count))
                batch = producer.create_batch()
                count = 0
                if batch.append(key=key, value=value, timestamp=ts) is None:
                    raise ValueError(f"a record for {topic} is larger than one producer batch")
            count += 1
        if count:
            futures.append(await self._submit(producer, batch, topic, partition, count))
        return futures

    async def _submit(self, producer: Any, batch: Any, topic: str, partition: int,
                      count: int) -> asyncio.Future[Any]:
        batch.close()
        future = await _Queue.of(producer, topic, partition).submit(batch)
        callback = self._on_sent.get(topic)
        if callback is not None:
            def written(fut: asyncio.Future[Any]) -> None:
                if not fut.cancelled() and fut.exception() is None and fut.result() is not None:
                    callback(partition, fut.result().offset + count - 1)
            future.add_done_callback(written)
        return future


class _Queue:
    """Closed batches of one producer and partition waiting to enter aiokafka's accumulator, in
    the order they were submitted."""

    _queues: weakref.WeakKeyDictionary[Any, dict[tuple[str, int], _Queue]] = \
        weakref.WeakKeyDictionary()

    __slots__ = ("_producer", "_topic", "_partition", "_waiting", "_tasks")

    def __init__(self, producer: Any, topic: str, partition: int) -> None:
        self._producer = producer
        self._topic = topic
        self._partition = partition
        # one future per queued batch, oldest first: done when that batch is in the accumulator
        self._waiting: deque[asyncio.Future[None]] = deque()
        self._tasks: set[asyncio.Task[None]] = set()

    @classmethod
    def of(cls, producer: Any, topic: str, partition: int) -> _Queue:
        queues = cls._queues.get(producer)
        if queues is None:
            queues = cls._queues[producer] = {}
        queue = queues.get((topic, partition))
        if queue is None:
            queue = queues[(topic, partition)] = cls(producer, topic, partition)
        return queue

    async def submit(self, batch: Any) -> asyncio.Future[Any]:
        """The batch's delivery future, as ``send_batch`` returns it; waits only when the queue
        is full."""
        if not self._waiting and not self._pending_in_accumulator():
            # nothing ahead of it: send_batch takes it without waiting
            delivered: asyncio.Future[Any] = await self._producer.send_batch(
                batch, self._topic, partition=self._partition)
            return delivered
        while len(self._waiting) >= _QUEUED_PER_PARTITION:
            await asyncio.shield(self._waiting[0])
        loop = asyncio.get_running_loop()
        ahead = self._waiting[-1] if self._waiting else None
        entered: asyncio.Future[None] = loop.create_future()
        delivered = loop.create_future()
        self._waiting.append(entered)
        task = loop.create_task(self._enter(batch, ahead, entered, delivered))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return delivered

    def _pending_in_accumulator(self) -> bool:
        accumulator = getattr(self._producer, "_message_accumulator", None)
        return bool(accumulator is not None and
                    accumulator._batches.get((self._topic, self._partition)))

    async def _enter(self, batch: Any, ahead: asyncio.Future[None] | None,
                     entered: asyncio.Future[None], delivered: asyncio.Future[Any]) -> None:
        try:
            if ahead is not None:
                await asyncio.shield(ahead)  # a cancelled wait must not cancel the one ahead
            inner = await self._producer.send_batch(batch, self._topic, partition=self._partition)
        except BaseException as exc:  # noqa: BLE001 - handed to whoever awaits the delivery
            if isinstance(exc, asyncio.CancelledError):
                delivered.cancel()
            else:
                delivered.set_exception(exc)
            return
        finally:
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
