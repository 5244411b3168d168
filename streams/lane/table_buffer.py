"""TableBuffer: a fetch's writes to a Faust RocksDB table, applied once per key when it commits.

A Faust table write (``table[k] = v``) puts the value into RocksDB and sends one changelog record
through Faust's producer buffer, per write, and needs the stream's current event for the partition.
Lane handlers instead collect their writes here (``FetchCommit.table``), flushed once per fetch: one
RocksDB ``WriteBatch`` per partition and one changelog record per changed key (the last value),
queued on an :class:`~leadstream.streams.lane.outbox.Outbox` to the same changelog partition
Faust would use. When a changelog batch is written, the table's persisted offset moves on, as
Faust's own ``_on_changelog_sent`` does, so recovery after a restart replays only what is newer.

The table, its changelog topic, its recovery and rebalancing stay Faust's: this only changes how a
handler writes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from faust.types import TP
from rocksdict import WriteBatch

from leadstream.streams.lane import upstream
from leadstream.streams.lane.outbox import Outbox

if TYPE_CHECKING:
    from faust.types.tables import CollectionT

__all__ = ["TableBuffer"]

_DELETED = None


class TableBuffer:
    """Pending writes to one table: ``(partition, key) → bytes | None``."""

    def __init__(self, table: CollectionT) -> None:
        self._table = table
        self._topic = table.changelog_topic.get_topic_name()
        self._pending: dict[tuple[int, bytes], bytes | None] = {}

    def get(self, partition: int, key: bytes) -> bytes | None:
        """The value written through this buffer and not flushed yet, else the stored one."""
        slot = (partition, key)
        if slot in self._pending:
            return self._pending[slot]
        value: bytes | None = upstream.partition_db(self._table, partition).get(key)
        return value

    def set(self, partition: int, key: bytes, value: bytes) -> None:
        self._pending[(partition, key)] = value

    def delete(self, partition: int, key: bytes) -> None:
        """Remove the key (a tombstone in the changelog), also when it was never stored."""
        self._pending[(partition, key)] = _DELETED

    def flush(self, outbox: Outbox) -> None:
        """Write everything to RocksDB now and queue the changelog records on ``outbox``."""
        if not self._pending:
            return
        batches: dict[int, WriteBatch] = {}
        for (partition, key), value in self._pending.items():
            batch = batches.get(partition)
            if batch is None:
                batch = batches[partition] = WriteBatch(raw_mode=True)
            if value is _DELETED:
                batch.delete(key)
            else:
                batch.put(key, value)
            outbox.add(self._topic, key, value, partition=partition)
        for partition, batch in batches.items():
            upstream.partition_db(self._table, partition).write(batch)
        self._pending = {}
        outbox.on_sent(self._topic, self._persisted)

    def _persisted(self, partition: int, offset: int) -> None:
        self._table.data.set_persisted_offset(TP(self._topic, partition), offset)
