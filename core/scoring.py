"""Behaviour score with exponential decay in event time, kept per rule as *units*.

Each rule keeps one component ``[units, ref]``: the sum of decay factors of its counted touchpoints
as of event time ``ref`` (a touchpoint counts 1 unit when it happens). Points are applied when the
score is read, so changing a rule's points re-scores every lead at once without replaying history.
Adding a touchpoint is O(1), and a late touchpoint adds exactly its decayed share, so the score
does not depend on arrival order (up to float rounding):

    score(T) = Σ_rules points · units · 2^(−(T − ref)/h)  =  Σ_events points_i · 2^(−(T − t_i)/h_i)

A change of half-life applies from each component's ``ref`` on (history is not kept).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from leadstream.core.model import ScoringModel

__all__ = ["add_units", "units_at", "behaviour_score", "contributions", "Component"]

Component = list[float]  # [units, ref_time]; a list because it round-trips through JSON as one


def _decay(dt: float, half_life: float | None) -> float:
    if half_life is None or dt == 0.0:
        return 1.0
    return 2.0 ** (-dt / half_life)


def add_units(component: Component | None, units: float, at: float, half_life: float | None) -> Component:
    """Return the component after adding ``units`` (1 per touchpoint, −1 to take one back) at ``at``."""
    if component is None:
        return [units, at]
    value, ref = component
    if at >= ref:
        return [value * _decay(at - ref, half_life) + units, at]
    return [value + units * _decay(ref - at, half_life), ref]


def units_at(component: Component, at: float, half_life: float | None) -> float:
    value, ref = component
    return value * _decay(at - ref, half_life)


def contributions(
    components: Mapping[str, Component], model: ScoringModel, at: float
) -> Iterable[tuple[str, float]]:
    """``(rule_id, points now)`` for every rule of ``model`` the lead has a component for."""
    for rule_id, component in components.items():
        rule = model.rule(rule_id)
        if rule is not None:  # a rule dropped from the model no longer counts
            yield rule_id, rule.points * units_at(component, at, rule.half_life_seconds)


def behaviour_score(components: Mapping[str, Component], model: ScoringModel, at: float) -> float:
    """The sum of :func:`contributions`, with the same floating-point operations in the same order
    (one loop, no generator: it runs for every touchpoint of a lead that may be promoted)."""
    total: float = 0  # an int 0 when there is nothing, as sum() gives
    rules = model.rules_by_id
    for rule_id, (value, ref) in components.items():
        rule = rules.get(rule_id)
        if rule is not None:
            total += rule.points * (value * _decay(at - ref, rule.half_life_seconds))
    return total
