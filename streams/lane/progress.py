"""LaneProgress: per lane partition, up to which offset every handled record's outputs are written.

Faust's commit bookkeeping answers the same question only at each commit, seconds apart. The
ingest shortcut (streams/services/visitor_shortcut.py) needs it at once: it may send a linked visitor's
touchpoint straight to the lead only when everything sent to the visitor before is handled and
its forwards are in Kafka.

Positions count from the current assignment: a partition reads as caught up only once the lane
has written the outputs of everything that was in it when the lane first fetched from it (its
high watermark then). Records written by an earlier process, or before a rebalance, may still be
unhandled; until then nothing is known about them.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from faust.types import TP

__all__ = ["LaneProgress", "Mark"]


class Mark:
    """A handled batch whose outputs are not yet written."""

    __slots__ = ("queue", "last", "done")

    def __init__(self, queue: deque[Mark], last: int) -> None:
        self.queue = queue
        self.last = last
        self.done = False


class LaneProgress:
    def __init__(self) -> None:
        self._ready_from: dict[TP, int] = {}  # tp → its high watermark at the first fetch
        self._written: dict[TP, int] = {}  # tp → one past the last offset with outputs written
        self._marks: dict[TP, deque[Mark]] = {}  # tp → handled batches, oldest first

    def fetched(self, tp: TP, highwater: int | None) -> None:
        """The lane fetched a batch of ``tp``; the first call of an assignment sets the mark to
        catch up to."""
        if tp not in self._ready_from and highwater is not None:
            self._ready_from[tp] = highwater

    def handling(self, tp: TP, last: int) -> Mark:
        queue = self._marks.get(tp)
        if queue is None:
            queue = self._marks[tp] = deque()
        mark = Mark(queue, last)
        queue.append(mark)
        return mark

    def written(self, tp: TP, mark: Mark) -> None:
        """The outputs of ``mark``'s batch are written. Batches of one partition can finish out
        of order (their fetches wrote to different partitions); the position moves only over
        the oldest finished ones."""
        mark.done = True
        queue = self._marks.get(tp)
        if queue is not mark.queue:
            return  # revoked since: it belongs to an earlier assignment
        while queue and queue[0].done:
            self._written[tp] = queue.popleft().last + 1

    def revoked(self, tps: Iterable[TP]) -> None:
        for tp in tps:
            self._ready_from.pop(tp, None)
            self._written.pop(tp, None)
            self._marks.pop(tp, None)

    def caught_up(self, tp: TP) -> int | None:
        """One past the last offset of ``tp`` whose outputs are written, once everything that was
        in the partition at its first fetch is; else ``None``."""
        written = self._written.get(tp)
        ready = self._ready_from.get(tp)
        if written is None or ready is None or written < ready:
            return None
        return written
