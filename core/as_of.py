"""A lead's facts as of an earlier event time: what a guard sees when a message arrives late.

The behaviour score's components hold every counted touchpoint, so the score as of ``t`` is the
components' score at ``t`` minus the share of the touchpoints after ``t``, which the dedupe window
remembers (time and the rules each counted for). Daily caps need no care: the touchpoints a cap
counts are the earliest of their day, so those before ``t`` are exactly the ones a cap would
have counted with only the touchpoints before ``t``.
"""

from __future__ import annotations

from collections.abc import Iterator

from leadstream.core.model import ScoringModel
from leadstream.core.scoring import Component, add_units, behaviour_score
from leadstream.core.state import LeadState

__all__ = ["scores_as_of", "touchpoint_times"]


def touchpoint_times(state: LeadState, since: float) -> list[float]:
    """Event times of the touchpoints the lead knows (its own and absorbed ones), from ``since``
    on, ascending and without repeats."""
    return sorted({entry[0] for entry in state.seen.values()
                   if entry[1] is not None and entry[0] is not None and entry[0] >= since})


def scores_as_of(state: LeadState, model: ScoringModel, times: list[float]) -> Iterator[tuple[float, float]]:
    """``(t, score as of t)`` for each of ``times`` (ascending in, descending out).

    One pass over the dedupe window, newest first: the touchpoints after each ``t`` are gathered
    as components of their own and taken off the lead's.
    """
    later = sorted(((entry[0], entry[1].get(model.name, ()))
                    for entry in state.seen.values()
                    if entry[1] and entry[0] is not None and entry[0] > times[0]),
                   key=lambda item: item[0], reverse=True)
    components = state.components.get(model.name, {})
    rules = model.rules_by_id
    future: dict[str, Component] = {}
    index = 0
    for at in reversed(times):
        while index < len(later) and later[index][0] > at:
            event_at, counted = later[index]
            for rule_id in counted:
                rule = rules.get(rule_id)
                if rule is not None:
                    future[rule_id] = add_units(future.get(rule_id), 1.0, event_at,
                                                rule.half_life_seconds)
            index += 1
        yield at, behaviour_score(components, model, at) - behaviour_score(future, model, at)
