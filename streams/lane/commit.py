"""FetchCommit: what one fetch's batches produce, carried out in the one order that keeps a
committed input offset safe.

1. **First**: records other state must not outrun (a visitor's hand-over to its lead, an erasure
   event). They are sent, and the broker has all of them before step 2 begins.
2. **State**: table writes go to RocksDB (one write batch per table partition) and their changelog
   records are queued; then the in-memory views of that state are updated (the lead cache, the
   deadline index), which must never show a state RocksDB does not hold.
3. **Outputs**: everything else (handovers, lead messages, DLQ records) and the changelog records
   of step 2 are handed to the producer.
4. **Input offsets**: the lane acknowledges the fetch's input offsets to the consumer's commit
   bookkeeping only when every record of steps 1–3 is written (the futures :meth:`send`
   returns). A failed send stops the worker before any of them is committed.

A crash anywhere replays the fetch from the committed offsets; the per-lead dedupe window and the
deterministic event ids make the replay a no-op apart from re-published records.

Handlers only queue: nothing is written before :meth:`send`, which the lane calls once per fetch
(and early, in the same order, when a large fetch has queued many records).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Protocol

from leadstream.streams.lane.outbox import Outbox
from leadstream.streams.lane.table_buffer import TableBuffer

if TYPE_CHECKING:
    from faust.types import ProducerT
    from faust.types.tables import CollectionT

__all__ = ["FetchCommit", "InMemory"]


class InMemory(Protocol):
    """An update of in-memory state derived from table writes: applied right after them."""

    def apply(self) -> None: ...


class FetchCommit:
    """Collects one fetch's effects; :meth:`send` carries out what is queued, in order."""

    def __init__(self, producer: ProducerT) -> None:
        self._producer = producer
        self._first = Outbox(producer)
        self._tables: dict[str, TableBuffer] = {}
        self._memory: list[InMemory] = []
        self._outputs = Outbox(producer)

    def __len__(self) -> int:
        """Records queued so far (first and outputs, not counting changelog records)."""
        return len(self._first) + len(self._outputs)

    def first(self, topic: str, key: bytes | None, value: bytes) -> None:
        """Queue a record that must be in Kafka before this fetch's state is written."""
        self._first.add(topic, key, value)

    def table(self, table: CollectionT) -> TableBuffer:
        """The buffer of this fetch's writes to ``table`` (reads see them)."""
        name = table.name
        buffer = self._tables.get(name)
        if buffer is None:
            buffer = self._tables[name] = TableBuffer(table)
        return buffer

    def remember(self, update: InMemory) -> None:
        """Apply ``update`` once the table writes queued before it are in RocksDB."""
        self._memory.append(update)

    def output(self, topic: str, key: bytes | None, value: bytes, *,
               partition: int | None = None) -> None:
        """Queue an output record (the producer's partitioner picks the partition by key unless
        ``partition`` is given)."""
        self._outputs.add(topic, key, value, partition=partition)

    async def send(self) -> list[asyncio.Future[object]]:
        """Steps 1–3 for everything queued; return the delivery futures of step 3 (the lane
        acknowledges the input once they are all done)."""
        if len(self._first):
            await self._first.flush()
        for buffer in self._tables.values():
            buffer.flush(self._outputs)
        memory, self._memory = self._memory, []
        for update in memory:
            update.apply()
        return await self._outputs.send()
