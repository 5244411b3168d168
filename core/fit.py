"""Fit (lead grading): profile → fit points → grade A–D; disqualifying fit rules."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from leadstream.core.model import GRADES, ScoringModel

__all__ = ["fit_points", "grade", "disqualifying_rule", "disqualifying_rules", "grade_at_least"]


def fit_points(profile: Mapping[str, Any], model: ScoringModel) -> float:
    return model.fit.points(profile)


def grade(profile: Mapping[str, Any], model: ScoringModel) -> str:
    return model.fit.grade(fit_points(profile, model))


def disqualifying_rule(profile: Mapping[str, Any], model: ScoringModel,
                       waived: Collection[str] = ()) -> str | None:
    """The first disqualifying fit rule the profile matches, leaving out ``waived`` ones (the
    rules a CRM overruled when it reinstated the lead)."""
    for rule in model.fit.rules:
        if rule.disqualify and rule.id not in waived and rule.matches(profile):
            return rule.id
    return None


def disqualifying_rules(profile: Mapping[str, Any], model: ScoringModel) -> list[str]:
    """Every disqualifying fit rule the profile matches."""
    return [rule.id for rule in model.fit.rules if rule.disqualify and rule.matches(profile)]


def grade_at_least(actual: str, worst_allowed: str) -> bool:
    """A is best: ``grade_at_least('B', 'C')`` is True."""
    return GRADES.index(actual) <= GRADES.index(worst_allowed)
