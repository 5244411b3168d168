"""Profile and BANT facts: last write wins by event time, ties broken by event id.

Either way the result does not depend on arrival order.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["merge_latest", "BANT_FIELDS"]

BANT_FIELDS = ("budget", "authority", "need", "timeline")


def merge_latest(
    values: dict[str, Any],
    stamps: dict[str, list[Any]],
    update: Mapping[str, Any],
    at: float,
    event_id: str,
) -> bool:
    """Merge ``update`` into ``values``; return whether anything changed."""
    stamp = [at, event_id]
    changed = False
    for name, value in update.items():
        if value is None:
            continue
        current = stamps.get(name)
        if current is None or stamp > current:
            changed = changed or values.get(name) != value
            values[name] = value
            stamps[name] = stamp
    return changed
