"""A lead explained for people: its score over time, rule by rule, and why it is where it is.

Pure: the lead's state and the model in, numbers and words out (the lead desk, ``/ui/lead``,
draws them). The score over time is computed from what the lead remembers of each touchpoint it
counted (event time and the rules it counted for, ``LeadState.seen``, the newest 1,024) with the
model's points and half-lives: the same decayed sums its components hold.
"""

from __future__ import annotations

from dataclasses import dataclass

from leadstream.core.model import ScoringModel
from leadstream.core.scoring import behaviour_score
from leadstream.core.state import LeadState

__all__ = ["ScorePoint", "score_timeline", "timeline_matches", "trigger_types", "why"]

_DAY = 86_400.0


@dataclass(frozen=True, slots=True)
class ScorePoint:
    at: float
    points: dict[str, float]  # rule id → its decayed points at ``at``

    @property
    def score(self) -> float:
        return sum(self.points.values())


def _counted(state: LeadState, model: ScoringModel) -> list[tuple[float, str]]:
    """``(event time, rule id)`` of every counted touchpoint the lead remembers."""
    out = []
    for at, counted in state.seen.values():
        for rule_id in (counted or {}).get(model.name, ()):
            out.append((float(at), rule_id))
    return sorted(out)


def score_timeline(state: LeadState, model: ScoringModel, *, end: float,
                   steps: int = 60) -> list[ScorePoint]:
    """The behaviour score from the lead's first counted touchpoint to ``end``, at ``steps``
    evenly spaced times and at each counted touchpoint (so the jumps show)."""
    counted = _counted(state, model)
    if not counted:
        return []
    start = counted[0][0]
    end = max(end, counted[-1][0])
    span = max(end - start, 1.0)
    times = sorted({*(start + span * i / steps for i in range(steps + 1)),
                    *(at for at, _ in counted)})
    rules = model.rules_by_id
    timeline = []
    for t in times:
        points: dict[str, float] = {}
        for at, rule_id in counted:
            if at > t:
                break
            rule = rules.get(rule_id)
            if rule is None:  # a rule dropped from the model no longer counts
                continue
            half_life = rule.half_life_seconds
            decay = 1.0 if half_life is None else 2.0 ** (-(t - at) / half_life)
            points[rule_id] = points.get(rule_id, 0.0) + rule.points * decay
        timeline.append(ScorePoint(t, points))
    return timeline


def timeline_matches(state: LeadState, model: ScoringModel, at: float) -> bool:
    """Whether the remembered touchpoints explain the whole score at ``at`` (they do unless the
    lead has counted more than it remembers, or a merge brought in a history it did not)."""
    points = score_timeline(state, model, end=at, steps=1)
    known = points[-1].score if points else 0.0
    actual = behaviour_score(state.components.get(model.name, {}), model, at)
    return abs(known - actual) <= 0.01 + 1e-6 * abs(actual)


_STAGE_WORDS = {"mgl": "MGL", "mql": "MQL", "sal": "SAL", "sql": "SQL", "won": "won",
                "lost": "lost", "recycled": "recycled", "disqualified": "disqualified",
                "visitor": "visitor"}


def why(state: LeadState, models_primary: ScoringModel, *, grade: str | None,
        score: float | None, trigger_types: dict[str, str]) -> str:
    """One line a person reads: the lead's stage and the reason of its newest stage entry,
    e.g. "MQL because: demo request (hand-raiser) with grade A"."""
    stage = _STAGE_WORDS.get(state.stage, state.stage)
    if not state.history:
        return f"{stage}: anonymous visits so far, no contact known" if state.stage == "visitor" \
            else f"{stage}"
    entry = state.history[-1]
    reason = str(entry.get("reason", ""))
    trigger = trigger_types.get(str(entry.get("event_id")), "").replace("_", " ")
    lifecycle = models_primary.lifecycle
    with_grade = f" with grade {grade}" if grade else ""
    words = {
        "contact_identified": f"a contact became known ({trigger or 'touchpoint'})",
        "hand_raiser": f"{trigger or 'a hand-raise'} (hand-raiser){with_grade}",
        "score_threshold": (f"behaviour score reached {lifecycle.mql.min_score:g}"
                            + (f" (now {score:.0f})" if score is not None else "") + with_grade),
        "bant_qualified": f"budget, authority, need and timeline all confirmed{with_grade}",
        "re_engaged": f"engaged again after recycling{with_grade}",
        "model_change": "the scoring model changed",
        "sales_accepted": "sales accepted it",
        "sales_rejected": "sales rejected it",
        "sales_qualified": "sales qualified it",
        "closed_won": "the deal was won",
        "closed_lost": "the deal was lost",
        "sales_disqualified": "sales disqualified it",
        "sales_reinstated": "sales reinstated it",
        "went_cold": "no touchpoints for too long",
        "nurture": "back to nurturing",
    }
    because = words.get(reason, reason.replace("_", " "))
    return f"{stage} because: {because}"


def trigger_types(state: LeadState) -> dict[str, str]:
    """Event id → type, for the touchpoints the lead's trail still holds."""
    return {str(entry[0]): str(entry[1]) for entry in state.trail}
