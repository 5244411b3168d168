"""Where a lead came from: its first touch and the touch that made it a lead (an MGL).

Each is the earliest touchpoint of its kind in event time (ties by event id), with the
envelope's ``source``, ``campaign`` and ``channel`` and its type: an order-free minimum, like the
score, so a late-arriving earlier touchpoint takes the place, and a visitor's or merged lead's
touches compete on equal terms (``merge``).

``LeadState.attribution`` maps ``first_touch`` and ``lead_created`` to
``[occurred_at, event_id, type, source, campaign, channel]``.
"""

from __future__ import annotations

from typing import Any

from leadstream.core.messages import Touchpoint

__all__ = ["FIRST_TOUCH", "LEAD_CREATED", "KINDS", "record", "merge", "Touch"]

FIRST_TOUCH = "first_touch"
LEAD_CREATED = "lead_created"  # the earliest touchpoint with contact identity
KINDS = (FIRST_TOUCH, LEAD_CREATED)

Touch = list[Any]  # [occurred_at, event_id, type, source, campaign, channel]


def _earlier(touch: Touch, than: Touch | None) -> bool:
    return than is None or (touch[0], touch[1]) < (than[0], than[1])


def record(attribution: dict[str, Touch], message: Touchpoint) -> None:
    """Count ``message`` as a candidate for each kind it can be."""
    key = [message.occurred_at, message.event_id]
    first = _earlier(key, attribution.get(FIRST_TOUCH))
    created = message.has_contact and _earlier(key, attribution.get(LEAD_CREATED))
    if not (first or created):
        return  # most touchpoints
    touch = [*key, message.type, message.source, message.campaign, message.channel]
    if first:
        attribution[FIRST_TOUCH] = touch
    if created:
        attribution[LEAD_CREATED] = touch


def merge(into: dict[str, Touch], other: dict[str, Touch]) -> None:
    """The earlier touch of each kind, from two leads' (or a visitor's and its lead's)."""
    for kind, touch in other.items():
        if _earlier(touch, into.get(kind)):
            into[kind] = list(touch)
