"""Profile and BANT facts: last write wins by event time, ties broken by event id.

Either way the result does not depend on arrival order. For profile fields the values a newer one
replaced are kept too (a few per field, :data:`HISTORY_PER_FIELD`), so a guard can ask what the
profile said as of an earlier event time (:func:`as_of`): a form that arrives late must not grade
the touchpoints before it with facts that were not known yet, nor lose the facts they had.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from typing import Any

__all__ = ["merge_latest", "as_of", "BANT_FIELDS", "HISTORY_PER_FIELD"]

BANT_FIELDS = ("budget", "authority", "need", "timeline")
#: replaced values kept per profile field (the current one is in the profile itself)
HISTORY_PER_FIELD = 4

Stamp = list[Any]  # [occurred_at, event_id]


def merge_latest(
    values: dict[str, Any],
    stamps: dict[str, list[Any]],
    update: Mapping[str, Any],
    at: float,
    event_id: str,
    history: dict[str, list[list[Any]]] | None = None,
) -> bool:
    """Merge ``update`` into ``values``; return whether anything changed.

    With ``history``, a replaced value (or a late one older than the current) is kept there as
    ``[occurred_at, event_id, value]`` in event-time order.
    """
    stamp = [at, event_id]
    changed = False
    for name, value in update.items():
        if value is None:
            continue
        current = stamps.get(name)
        if current is None or stamp > current:
            old = values.get(name)
            changed = changed or old != value
            if history is not None and current is not None:
                kept = history.get(name)
                # a value said again (an email domain on every touchpoint) needs only where its
                # run began: as of any time since then it was this value
                if not (old == value and kept and kept[-1][2] == value):
                    _keep(history, name, [current[0], current[1], old])
            values[name] = value
            stamps[name] = stamp
        elif history is not None and stamp != current:
            _keep(history, name, [at, event_id, value])
    return changed


def _keep(history: dict[str, list[list[Any]]], name: str, entry: list[Any]) -> None:
    kept = history.setdefault(name, [])
    key = (entry[0], entry[1])
    if not kept or (kept[-1][0], kept[-1][1]) < key:  # the usual case: newer than all kept
        kept.append(entry)
    else:
        position = bisect.bisect_left(kept, key, key=lambda e: (e[0], e[1]))
        if position < len(kept) and (kept[position][0], kept[position][1]) == key:
            return
        kept.insert(position, entry)
    if len(kept) > HISTORY_PER_FIELD:
        del kept[:-HISTORY_PER_FIELD]


def as_of(
    values: Mapping[str, Any],
    stamps: Mapping[str, Stamp],
    history: Mapping[str, list[list[Any]]],
    at: float,
) -> Mapping[str, Any]:
    """The profile as it stood at event time ``at``: each field's newest value stamped at or
    before ``at`` (a field first known later is absent)."""
    if all(stamp[0] <= at for stamp in stamps.values()):
        return values
    out: dict[str, Any] = {}
    for name, value in values.items():
        stamp = stamps.get(name)
        if stamp is None or stamp[0] <= at:
            out[name] = value
            continue
        for entry in reversed(history.get(name, ())):
            if entry[0] <= at:
                out[name] = entry[2]
                break
    return out
