"""StateCache: decoded lead states kept between batches, so a hot lead is not decoded again.

RocksDB (and its changelog) stays the truth: the cache holds exactly what the lead handler wrote
at the end of its last batch for that key, and it is emptied whenever the consumer group
rebalances (a partition may come back recovered from the changelog, or move away). Bounded: the
least recently used entries go first.

Retired ids (a linked visitor, a merged-away lead) only forward what reaches them, and with
tracking cookies on every touchpoint of a known person they get as many messages as leads do. Their
state is nothing but ``merged_into``, so they are kept apart as that one string (~250 bytes an
entry rather than a decoded state's ~8 KB), under their own, larger bound: they no longer push
leads out of the cache.

An ``OrderedDict``, not a plain dict: evicting a plain dict's first key (``next(iter(d))``) scans
past every slot deleted since the dict was last resized, which showed in a busy worker's
profile; ``popitem(last=False)`` is O(1).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from leadstream.core.state import LeadState

__all__ = ["StateCache"]


class StateCache:
    def __init__(self, limit: int, retired_limit: int = 0) -> None:
        self._limit = limit
        self._retired_limit = retired_limit
        self._states: OrderedDict[bytes, LeadState] = OrderedDict()
        self._retired: OrderedDict[bytes, str] = OrderedDict()  # key → merged_into
        self._generation: int | None = None

    def valid_for(self, generation: int) -> None:
        """Empty the cache when the group generation changed since it was filled."""
        if generation != self._generation:
            self._states.clear()
            self._retired.clear()
            self._generation = generation

    def get(self, key: bytes) -> LeadState | None:
        state = self._states.get(key)
        if state is not None:
            self._states.move_to_end(key)  # least recently used goes first
            return state
        into = self._retired.get(key)
        if into is None:
            return None
        self._retired.move_to_end(key)
        return LeadState(lead_id=key.decode(), merged_into=into)

    def put(self, key: bytes, state: LeadState) -> None:
        if self._retired_limit > 0 and _only_forwards(key, state):
            self._states.pop(key, None)
            self._keep(self._retired, key, state.merged_into, self._retired_limit)
        elif self._limit > 0:
            self._retired.pop(key, None)
            self._keep(self._states, key, state, self._limit)
        else:
            self.discard(key)

    def discard(self, key: bytes) -> None:
        self._states.pop(key, None)
        self._retired.pop(key, None)

    def __len__(self) -> int:
        return len(self._states) + len(self._retired)

    @staticmethod
    def _keep(entries: OrderedDict[bytes, Any], key: bytes, value: Any, limit: int) -> None:
        entries[key] = value
        entries.move_to_end(key)
        while len(entries) > limit:
            entries.popitem(last=False)


def _only_forwards(key: bytes, state: LeadState) -> bool:
    """A retired id's state that holds nothing but where it forwards to (what ``get`` rebuilds)."""
    into = state.merged_into
    return (
        into is not None
        and state.lead_id.encode() == key
        and state == LeadState(lead_id=state.lead_id, merged_into=into)
    )
