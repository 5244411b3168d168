"""The lead lifecycle state machine (DESIGN §6), driven by touchpoints.

Each transition carries a reason code:

* ``contact_identified`` visitor → mgl: first touchpoint carrying contact identity;
* ``hand_raiser``        mgl/recycled → mql: a demo or callback request (the fast lane);
* ``score_threshold``    mgl/recycled → mql: behaviour score reached the model's MQL threshold.
"""

from __future__ import annotations

from leadstream.core.emitted import Transition, transition_id
from leadstream.core.messages import Touchpoint
from leadstream.core.model import ScoringModel
from leadstream.core.scoring import behaviour_score, contributions
from leadstream.core.stages import Stage
from leadstream.core.state import HISTORY_LENGTH, OUTBOX_LENGTH, LeadState

__all__ = ["advance"]

_TOP_CONTRIBUTORS = 5
_PROMOTABLE = (Stage.MGL.value, Stage.RECYCLED.value)


def advance(state: LeadState, touchpoint: Touchpoint, model: ScoringModel) -> list[Transition]:
    """Move the lead as far as this touchpoint allows; return the transitions, in order."""
    out: list[Transition] = []
    if state.stage == Stage.VISITOR and touchpoint.has_contact:
        out.append(_move(state, Stage.MGL, "contact_identified", touchpoint, model))
    if state.stage in _PROMOTABLE and not state.flags.get("suppressed"):
        if touchpoint.type in model.lifecycle.hand_raiser_types:
            out.append(_move(state, Stage.MQL, "hand_raiser", touchpoint, model))
        elif _score_now(state, model) >= model.lifecycle.mql.min_score:
            out.append(_move(state, Stage.MQL, "score_threshold", touchpoint, model))
    return out


def _score_now(state: LeadState, model: ScoringModel) -> float:
    assert state.last_event_at is not None
    return behaviour_score(state.components, model, state.last_event_at)


def _move(
    state: LeadState, to: Stage, reason: str, touchpoint: Touchpoint, model: ScoringModel
) -> Transition:
    entry = state.stage_entries.get(to.value, 0) + 1
    at = state.last_event_at if state.last_event_at is not None else touchpoint.occurred_at
    ranked = sorted(contributions(state.components, model, at), key=lambda c: (-c[1], c[0]))
    transition = Transition(
        transition_id=transition_id(state.lead_id, to.value, entry),
        lead_id=state.lead_id,
        sequence=sum(state.stage_entries.values()) + 1,
        from_stage=state.stage,
        to_stage=to.value,
        reason=reason,
        occurred_at=touchpoint.occurred_at,
        trigger_event_id=touchpoint.event_id,
        trigger_type=touchpoint.type,
        score=round(sum(points for _, points in ranked), 2),
        model_name=model.name,
        model_version=model.version,
        contributors=tuple(
            (rule_id, round(points, 2), state.rule_counts.get(rule_id, 0))
            for rule_id, points in ranked[:_TOP_CONTRIBUTORS]
        ),
        trail=tuple((e[0], e[1], e[2]) for e in state.trail),
        profile=dict(state.profile),
    )
    state.stage_entries[to.value] = entry
    state.stage = to.value
    state.history.append(
        {
            "transition_id": transition.transition_id,
            "from": transition.from_stage,
            "to": transition.to_stage,
            "reason": reason,
            "at": touchpoint.occurred_at,
            "event_id": touchpoint.event_id,
        }
    )
    del state.history[:-HISTORY_LENGTH]
    state.outbox.append(transition.to_primitive())
    del state.outbox[:-OUTBOX_LENGTH]
    return transition
