"""Where a lead came from: its first touch, the touch that made it a lead (an MGL), the last
touch before it became an MQL, and its source type.

``LeadState.attribution`` maps each kind to a *touch*,
``[occurred_at, event_id, type, source, campaign, channel]``:

* ``first_touch``, ``lead_created``: the earliest touchpoint (any; with contact identity) in
  event time, ties by event id. Order-free minima, like the score: a late-arriving earlier
  touchpoint takes the place, and a visitor's or merged lead's touches compete on equal terms.
* ``mql_touch``: the latest touchpoint at or before the lead's (latest) MQL transition, its
  event time appended (``[…, mql_at]``). Set when the lead becomes an MQL, from the touchpoint
  that triggered it or the recent trail; a late touchpoint between it and ``mql_at`` takes its
  place. A merge keeps the survivor's, else the absorbed lead's.

The source type (``spears``, ``seeds``, ``nets``) is not stored: the model's ``sources`` rules
classify the lead-creating touch (else the first touch) whenever it is shown, so a model change
re-labels every lead at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from leadstream.core.messages import Touchpoint
from leadstream.core.model import ModelSet

__all__ = ["FIRST_TOUCH", "LEAD_CREATED", "MQL_TOUCH", "KINDS", "record", "merge", "on_mql",
           "source_type", "source_of", "view", "Touch"]

FIRST_TOUCH = "first_touch"
LEAD_CREATED = "lead_created"  # the earliest touchpoint with contact identity
MQL_TOUCH = "mql_touch"  # the last touchpoint at or before the MQL transition
KINDS = (FIRST_TOUCH, LEAD_CREATED, MQL_TOUCH)

Touch = list[Any]  # [occurred_at, event_id, type, source, campaign, channel(, mql_at)]


def _earlier(touch: Touch, than: Touch | None) -> bool:
    return than is None or (touch[0], touch[1]) < (than[0], than[1])


def record(attribution: dict[str, Touch], message: Touchpoint) -> None:
    """Count ``message`` as a candidate for each kind it can be."""
    key = [message.occurred_at, message.event_id]
    first = _earlier(key, attribution.get(FIRST_TOUCH))
    created = message.has_contact and _earlier(key, attribution.get(LEAD_CREATED))
    mql = attribution.get(MQL_TOUCH)
    # a late touchpoint from before the MQL, newer than the touch it was attributed to
    before_mql = mql is not None and _earlier(mql, key) and message.occurred_at <= mql[6]
    if not (first or created or before_mql):
        return  # most touchpoints
    touch = [*key, message.type, message.source, message.campaign, message.channel]
    if first:
        attribution[FIRST_TOUCH] = touch
    if created:
        attribution[LEAD_CREATED] = touch
    if before_mql:
        attribution[MQL_TOUCH] = [*touch, mql[6]]


def on_mql(attribution: dict[str, Touch], trail: list[list[Any]], trigger_id: str,
           at: float) -> None:
    """The lead became an MQL at event time ``at``: attribute it to the newest touchpoint at or
    before ``at`` in the trail (the trigger itself when it is a touchpoint)."""
    best: list[Any] | None = None
    for entry in trail:  # oldest first: [event_id, type, occurred_at(, source, campaign, channel)]
        if entry[2] <= at or entry[0] == trigger_id:
            best = entry
    if best is None:  # every kept touchpoint is newer: the one that made it a lead, at least
        created = attribution.get(LEAD_CREATED) or attribution.get(FIRST_TOUCH)
        if created is not None:
            attribution[MQL_TOUCH] = [*created[:6], at]
        return
    source, campaign, channel = (best[3:6] if len(best) >= 6 else (None, None, None))
    attribution[MQL_TOUCH] = [best[2], best[0], best[1], source, campaign, channel, at]


def merge(into: dict[str, Touch], other: dict[str, Touch]) -> None:
    """The earlier first and lead-creating touch of two leads' (or a visitor's and its lead's);
    the survivor's MQL touch, else the other's."""
    for kind, touch in other.items():
        if kind == MQL_TOUCH:
            if kind not in into:
                into[kind] = list(touch)
        elif _earlier(touch, into.get(kind)):
            into[kind] = list(touch)


def source_of(attribution: Mapping[str, Touch]) -> Touch | None:
    """The touch a lead's source type is read from: the one that made it a lead, else its first."""
    return attribution.get(LEAD_CREATED) or attribution.get(FIRST_TOUCH)


def source_type(attribution: Mapping[str, Touch], models: ModelSet) -> str:
    touch = source_of(attribution)
    if touch is None:
        return models.primary.sources.classify_touch(None, None, None)
    return models.primary.sources.classify_touch(touch[3], touch[4], touch[5])


def view(attribution: Mapping[str, Touch], models: ModelSet) -> dict[str, Any]:
    """What a handover event carries: each kind's touch (``None`` if unknown) and the source type."""
    # the state replaces a kind's touch, never changes it in place: the event may share it (the
    # mapper reads the first six fields of the MQL touch, not its MQL time)
    out: dict[str, Any] = {kind: attribution.get(kind) for kind in KINDS}
    out["source_type"] = source_type(attribution, models)
    return out
