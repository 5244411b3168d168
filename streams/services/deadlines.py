"""Which leads on this worker's partitions are due for a tick, without scanning the lead table.

The ``deadlines`` table (lead id → next deadline) is the durable truth and lives on the same
partitions as the lead table. This module keeps an in-memory heap over it so the timer can find due
leads in O(log n). The heap is lazy: an entry whose deadline no longer matches the table is skipped.
The table is lazy too: a deadline that moves *later* (new activity) is left in place, and the tick
at the old time — a no-op in the core — writes the new one. So most touchpoints write nothing here.
"""

from __future__ import annotations

import heapq
import struct
from collections.abc import Iterable

__all__ = ["DeadlineIndex", "encode_deadline", "decode_deadline", "index_update"]

_FORMAT = struct.Struct(">d")


def encode_deadline(at: float) -> bytes:
    return _FORMAT.pack(at)


def decode_deadline(raw: bytes) -> float:
    return float(_FORMAT.unpack(raw)[0])


def index_update(indexed: float | None, due: float | None, *, after_tick: bool) -> tuple[bool, float | None]:
    """``(changed, deadline)`` for a lead's entry; a changed ``None`` deletes it.

    After a tick the entry is made exact; after anything else it only ever moves earlier.
    """
    if after_tick:
        return (due != indexed, due)
    if due is not None and (indexed is None or due < indexed):
        return (True, due)
    return (False, indexed)


class DeadlineIndex:
    """A min-heap of (deadline, lead key) for the partitions this worker holds."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, bytes]] = []
        #: the consumer generation the heap was built for; a rebalance makes it stale
        self.generation: int | None = None

    def __len__(self) -> int:
        return len(self._heap)

    def push(self, key: bytes, at: float) -> None:
        heapq.heappush(self._heap, (at, key))

    def rebuild(self, entries: Iterable[tuple[bytes, bytes]], generation: int) -> None:
        self._heap = [(decode_deadline(raw), key) for key, raw in entries]
        heapq.heapify(self._heap)
        self.generation = generation

    def pop_due(self, now: float, limit: int) -> list[tuple[bytes, float]]:
        """Remove and return up to ``limit`` entries due at ``now``, earliest first."""
        due: list[tuple[bytes, float]] = []
        while self._heap and len(due) < limit and self._heap[0][0] <= now:
            at, key = heapq.heappop(self._heap)
            due.append((key, at))
        return due
