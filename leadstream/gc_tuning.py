"""CPython's cyclic garbage collector, set for a worker that keeps many decoded lead states.

The lead handler keeps up to ``state.cache_leads`` decoded states in memory (about 30 container
objects each), and replaces them all the time. With CPython's default thresholds (700, 10, 10)
those survivors start a *full* collection every few seconds, and a full collection scans every
object of the process while the event loop stands still: in the latency benchmark those pauses
were the largest part of the p99 latency (benchmarks/HISTORY.md). Lead states hold no reference cycles, so
those collections found almost nothing; the short-lived cycles of asyncio and Faust die in the
young generations, which keep CPython's defaults.

So a worker (1) freezes what it built at start (modules, the app, schemas: the collector never
scans them again) and (2) lets a full collection wait for ``thresholds[2]`` collections of the
middle generation instead of 10. Garbage cycles that reach the oldest generation are still
collected, only less often.
"""

from __future__ import annotations

import gc

__all__ = ["tune_gc"]


def tune_gc(*, thresholds: tuple[int, int, int], freeze: bool) -> None:
    gc.set_threshold(*thresholds)
    if freeze:
        gc.collect()  # what is garbage now must not be frozen with the rest
        gc.freeze()
