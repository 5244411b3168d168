"""Behaviour score with exponential decay in event time, kept per rule.

Each rule keeps one component ``[value, ref]``: its decayed sum as of event time ``ref``. Adding a
touchpoint is O(1), and a late touchpoint adds exactly its decayed share, so the score after a set
of touchpoints does not depend on their arrival order (up to float rounding):

    score(T) = Σ_rules value · 2^(−(T − ref) / half_life)  =  Σ_events points_i · 2^(−(T − t_i) / h_i)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from leadstream.core.model import ScoringModel

__all__ = ["add_points", "component_at", "behaviour_score", "contributions"]

Component = list[float]  # [value, ref_time]; a list because it round-trips through JSON as one


def _decay(dt: float, half_life: float | None) -> float:
    if half_life is None or dt == 0.0:
        return 1.0
    return 2.0 ** (-dt / half_life)


def add_points(
    component: Component | None, points: float, at: float, half_life: float | None
) -> Component:
    """Return the component after adding ``points`` earned at event time ``at``."""
    if component is None:
        return [points, at]
    value, ref = component
    if at >= ref:
        return [value * _decay(at - ref, half_life) + points, at]
    return [value + points * _decay(ref - at, half_life), ref]


def component_at(component: Component, at: float, half_life: float | None) -> float:
    value, ref = component
    return value * _decay(at - ref, half_life)


def contributions(
    components: Mapping[str, Component], model: ScoringModel, at: float
) -> Iterable[tuple[str, float]]:
    """``(rule_id, points now)`` for every rule of ``model`` the lead has a component for."""
    for rule_id, component in components.items():
        rule = model.rule(rule_id)
        if rule is not None:  # a rule dropped from the model no longer counts
            yield rule_id, component_at(component, at, rule.half_life_seconds)


def behaviour_score(components: Mapping[str, Component], model: ScoringModel, at: float) -> float:
    return sum(points for _, points in contributions(components, model, at))
