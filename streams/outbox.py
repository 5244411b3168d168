"""Outbox: records produced while a batch is handled, sent as one Kafka batch per partition.

``topic.send`` in Faust awaits aiokafka's ``send`` per record (metadata wait, accumulator lock, a
future per record). The outbox appends records to aiokafka ``BatchBuilder``s instead and submits
each with ``send_batch``, one future per partition batch. Keyed records are partitioned by the
producer's own partitioner (murmur2 on real Kafka), so they land where ``topic.send`` would have put
them; the partition can also be given explicitly (table changelogs: the input's partition).

Records go out in the order they were added, per partition. Faust's pre-commit ``producer.flush()``
waits for them (they are in aiokafka's accumulator), and the batch lane acknowledges an input batch
only when the futures :meth:`Outbox.send` returns have succeeded.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

__all__ = ["Outbox", "Sent"]

_PARTITION_CACHE_LIMIT = 200_000
_partition_cache: dict[tuple[bytes, int], int] = {}

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

    def __len__(self) -> int:
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
        future: asyncio.Future[Any] = await producer.send_batch(batch, topic, partition=partition)
        callback = self._on_sent.get(topic)
        if callback is not None:
            def written(fut: asyncio.Future[Any]) -> None:
                if not fut.cancelled() and fut.exception() is None and fut.result() is not None:
                    callback(partition, fut.result().offset + count - 1)
            future.add_done_callback(written)
        return future
