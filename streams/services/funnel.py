"""Leads per stage and per grade, kept per partition so ``/funnel`` and the gauges need no scan.

Each partition's counts live in the ``stats`` table under the key ``partition-<n>``; Faust stores
a table write in the partition of the event being processed, so each lead partition owns exactly
one counts record, restored with it after a rebalance or a crash. The lead agent shifts a lead
from its old (stage, grade) to its new one when either changes. After a kill -9 the counts may be
off by the few leads whose update and count update were not both flushed; they never drift on a
clean shutdown or a rebalance.
"""

from __future__ import annotations

from typing import Any

import orjson

from leadstream.core.fit import grade
from leadstream.core.model import ModelSet
from leadstream.core.stages import Stage
from leadstream.core.state import LeadState

__all__ = ["Bucket", "bucket_of", "stats_key", "shift", "decode_counts", "encode_counts", "merge_counts"]

#: (stage, grade); visitors have no grade
Bucket = tuple[str, str | None]


def stats_key(partition: int) -> bytes:
    return b"partition-%d" % partition


def bucket_of(state: LeadState, models: ModelSet) -> Bucket | None:
    """``None`` for a retired id (merged into another lead): it is nobody any more."""
    if state.merged_into is not None:
        return None
    if state.stage == Stage.VISITOR:
        return (state.stage, None)
    return (state.stage, grade(state.profile, models.primary))


def empty_counts() -> dict[str, dict[str, int]]:
    return {"stages": {}, "grades": {}}


def decode_counts(raw: bytes | None) -> dict[str, dict[str, int]]:
    return orjson.loads(raw) if raw else empty_counts()


def encode_counts(counts: dict[str, dict[str, int]]) -> bytes:
    return orjson.dumps(counts, option=orjson.OPT_SORT_KEYS)


def _add(group: dict[str, int], name: str, delta: int) -> None:
    value = group.get(name, 0) + delta
    if value:
        group[name] = value
    else:
        group.pop(name, None)


def shift(counts: dict[str, dict[str, int]], before: Bucket | None, after: Bucket | None) -> None:
    """Move one lead from ``before`` to ``after`` (``None``: no lead, i.e. new, merged away or
    erased)."""
    if before is not None:
        _add(counts["stages"], before[0], -1)
        if before[1] is not None:
            _add(counts["grades"], before[1], -1)
    if after is None:
        return
    _add(counts["stages"], after[0], 1)
    if after[1] is not None:
        _add(counts["grades"], after[1], 1)


def merge_counts(parts: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    total = empty_counts()
    for part in parts:
        for group in ("stages", "grades"):
            for name, count in part.get(group, {}).items():
                _add(total[group], name, int(count))
    return total
