"""StateCache: decoded lead states kept between batches, so a hot lead is not decoded again.

RocksDB (and its changelog) stays the truth: the cache holds exactly what the lead handler wrote
at the end of its last batch for that key, and it is emptied whenever the consumer group
rebalances (a partition may come back recovered from the changelog, or move away). Bounded: the
oldest-inserted entries go first (a dict keeps insertion order; re-inserting a key moves it last).
"""

from __future__ import annotations

from typing import Any

__all__ = ["StateCache"]


class StateCache:
    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._states: dict[bytes, Any] = {}
        self._generation: int | None = None

    def valid_for(self, generation: int) -> None:
        """Empty the cache when the group generation changed since it was filled."""
        if generation != self._generation:
            self._states.clear()
            self._generation = generation

    def get(self, key: bytes) -> Any | None:
        return self._states.get(key)

    def put(self, key: bytes, state: Any) -> None:
        if self._limit <= 0:
            return
        states = self._states
        states.pop(key, None)
        states[key] = state
        while len(states) > self._limit:
            del states[next(iter(states))]

    def discard(self, key: bytes) -> None:
        self._states.pop(key, None)

    def __len__(self) -> int:
        return len(self._states)
