"""StateCache: decoded lead states kept between batches, so a hot lead is not decoded again.

RocksDB (and its changelog) stays the truth: the cache holds exactly what the lead handler wrote
at the end of its last batch for that key, and it is emptied whenever the consumer group
rebalances (a partition may come back recovered from the changelog, or move away). Bounded: the
least recently used entries go first.

An ``OrderedDict``, not a plain dict: evicting a plain dict's first key (``next(iter(d))``) scans
past every slot deleted since the dict was last resized, which showed as 2 % of a busy worker's
CPU; ``popitem(last=False)`` is O(1).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

__all__ = ["StateCache"]


class StateCache:
    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._states: OrderedDict[bytes, Any] = OrderedDict()
        self._generation: int | None = None

    def valid_for(self, generation: int) -> None:
        """Empty the cache when the group generation changed since it was filled."""
        if generation != self._generation:
            self._states.clear()
            self._generation = generation

    def get(self, key: bytes) -> Any | None:
        state = self._states.get(key)
        if state is not None:
            self._states.move_to_end(key)  # least recently used goes first
        return state

    def put(self, key: bytes, state: Any) -> None:
        if self._limit <= 0:
            return
        states = self._states
        states[key] = state
        states.move_to_end(key)
        while len(states) > self._limit:
            states.popitem(last=False)

    def discard(self, key: bytes) -> None:
        self._states.pop(key, None)

    def __len__(self) -> int:
        return len(self._states)
