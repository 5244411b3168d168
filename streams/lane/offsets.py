"""Commit arithmetic for lane topics: which offsets count as processed, and the offset to commit.

Pure functions over the containers Faust's consumer keeps per partition (a list and a set of
acknowledged offsets, an interval tree of skipped offsets, the committed offset). They differ
from Faust's own bookkeeping in two ways, each of which stalled a partition taken over during
recovery (tests/integration/test_takeover.py):

- a skipped offset (compacted away, a transaction marker) is only one the lane saw skipped, never
  one derived from a read offset that a seek may have moved back;
- the run to commit starts exactly at the committed offset, and a duplicate acknowledgement does
  not end it.
"""

from __future__ import annotations

from collections.abc import Iterator

from intervaltree import IntervalTree

__all__ = ["acknowledge", "add_skipped", "next_commit", "skipped"]


def skipped(last_handled: int | None, committed: int | None,
            offsets: list[int]) -> Iterator[tuple[int, int]]:
    """The ranges ``(first, last)`` the broker skipped before and inside a batch of ``offsets``.

    Before the batch: from one past the last offset the lane handled for the partition or, for
    the first batch of an assignment, from the committed offset."""
    last = last_handled
    if last is None and committed is not None:
        last = committed - 1
    if last is not None and offsets[0] > last + 1:
        yield last + 1, offsets[0] - 1
    for before, after in zip(offsets, offsets[1:]):
        if after - before > 1:
            yield before + 1, after - 1


def add_skipped(gaps: IntervalTree, first: int, last: int) -> None:
    gaps.addi(first, last + 1)  # intervaltree intervals exclude their end
    gaps.merge_overlaps()


def acknowledge(acked: list[int], index: set[int], committed: int | None,
                offsets: list[int]) -> int:
    """Record a handled batch's ``offsets`` as processed; return how many were new (below the
    committed offset or already acknowledged ones are not)."""
    fresh = [o for o in offsets if (committed is None or o >= committed) and o not in index]
    index.update(fresh)
    acked.extend(fresh)
    return len(fresh)


def next_commit(acked: list[int], index: set[int], gaps: IntervalTree,
                committed: int | None) -> int | None:
    """One past the run of processed offsets that starts at ``committed``, or ``None``.

    Takes the run (and the skipped offsets it reached) off ``acked``, ``index`` and ``gaps``."""
    if not acked:
        return None
    if gaps:
        reached = gaps.overlap(0, max(acked) + 1)
        if reached:
            for interval in reached:
                acked.extend(range(interval.begin, interval.end))
            gaps.chop(0, max(interval.end for interval in reached))
    done = sorted(set(acked))
    if committed is not None:
        stale = [o for o in done if o < committed]
        index.difference_update(stale)
        done = done[len(stale):]
        if not done or done[0] != committed:
            acked[:] = done  # an offset before the first acknowledged one is in flight
            return None
    end = 1
    while end < len(done) and done[end] == done[end - 1] + 1:
        end += 1
    run = done[:end]
    acked[:] = done[end:]
    index.difference_update(run)
    return run[-1] + 1
