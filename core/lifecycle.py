"""The lead lifecycle state machine (README, "The scoring model" and "Handover events") and the lead "snapshot" a transition carries.

Reason codes on transitions:

===========================  ==========================================================
``contact_identified``       visitor → mgl: first touchpoint carrying contact identity
``hand_raiser``              mgl/recycled → mql: demo or callback request, grade acceptable
``score_threshold``          mgl → mql: behaviour score and grade reached the MQL guard
``re_engaged``               recycled → mql: the guard again, with ``reengage_min_points`` new
``model_change``             mgl/recycled → mql or → disqualified after a model change
``disqualify_rule``          any open stage → disqualified: a disqualifying fit rule matched
``sales_accepted``           mql → sal (CRM)
``sales_rejected``           mql/sal → recycled (CRM; ``detail`` carries its reason code)
``sales_qualified``          sal → sql (CRM)
``closed_won``               sql → won (CRM)
``closed_lost``              sal/sql → lost (CRM)
``sales_disqualified``       any open stage → disqualified (CRM)
``sales_reinstated``         disqualified → recycled (CRM verdict ``reinstated``): the fit rules
                             that disqualified it no longer do
``went_cold``                mql/sal → recycled: no touchpoint for ``recycle_after_days``
``sla_breach``               (mql stays mql) not accepted within ``sla_hours``; re-routed
``history_linked``           (stage unchanged, kind ``lead_updated``) a visitor's history joined a
                             lead that was known already: the CRM gets the corrected view
``lead_changed``             (stage unchanged, kind ``lead_updated``) the lead's view changed since
                             its last handover event (core/updates.py); ``detail`` names what
===========================  ==========================================================
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from leadstream.core import attribution, consent
from leadstream.core.accounts import account_of
from leadstream.core.bant import BantVerdict
from leadstream.core.bant import verdict as bant_verdict
from leadstream.core.as_of import scores_as_of, touchpoint_times
from leadstream.core.emitted import Transition, kept_for_replay, transition_id
from leadstream.core.fit import disqualifying_rule, fit_points, grade_at_least
from leadstream.core.profile import as_of as profile_as_of
from leadstream.core.model import ModelSet, ScoringModel
from leadstream.core.routing import route
from leadstream.core.scoring import behaviour_score, contributions
from leadstream.core.stages import Stage
from leadstream.core.state import HISTORY_LENGTH, OUTBOX_LENGTH, LeadState

__all__ = [
    "advance_on_touchpoint",
    "catch_up",
    "re_evaluate",
    "move",
    "snapshot",
    "standing",
    "Standing",
    "Snapshot",
    "Trigger",
    "entered",
    "temperature",
    "OPEN_STAGES",
    "PROMOTABLE",
    "WAIVED",
    "waived_rules",
]

_TOP_CONTRIBUTORS = 5
_NO_BANT = BantVerdict("open")
PROMOTABLE = frozenset({Stage.MGL, Stage.RECYCLED})
OPEN_STAGES = frozenset({Stage.VISITOR, Stage.MGL, Stage.MQL, Stage.SAL, Stage.SQL, Stage.RECYCLED})


def temperature(score: float, bant: dict[str, Any], model: ScoringModel) -> str:
    t = model.temperature
    if score >= t.hot and bant.get("timeline") in t.hot_timelines:
        return "hot"
    if score >= t.warm:
        return "warm"
    return "cold"


@dataclass(frozen=True, slots=True)
class Trigger:
    """What a decision is made for: the message that caused it (its id and type) and the event
    time at which it takes effect (for a decision made late, the time the guard held)."""

    id: str
    type: str
    at: float


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The lead's scores, grade, matrix and temperature as of one event time."""

    score: float
    fit_points: float
    grade: str
    matrix: str
    temperature: str
    contributors: tuple[tuple[str, float, int], ...]  # (rule id, points now, events counted)
    scores: dict[str, float]  # every model's score, by model name
    bant_status: str  # qualified | held_back | open (core/bant.py)


@dataclass(frozen=True, slots=True)
class Standing:
    """The primary model's score, its contributions (largest first), fit points and grade."""

    score: float
    ranked: list[tuple[str, float]]
    fit: float
    grade: str
    matrix: str


def standing(state: LeadState, models: ModelSet, at: float) -> Standing:
    """The part of :func:`snapshot` a backtest's summary of a lead needs."""
    primary = models.primary
    ranked = sorted(
        contributions(state.components.get(primary.name, {}), primary, at),
        key=lambda c: (-abs(c[1]), c[0]),
    )
    score = round(sum(points for _, points in ranked), 2)
    fit = fit_points(state.profile, primary)
    grade = primary.fit.grade(fit)
    return Standing(score, ranked, fit, grade, f"{grade}{primary.engagement.band(score)}")


def snapshot(state: LeadState, models: ModelSet, at: float) -> Snapshot:
    """Scores, grade, matrix and temperature of the lead as of event time ``at``."""
    primary = models.primary
    view = standing(state, models, at)
    ranked, score, grade = view.ranked, view.score, view.grade
    counts = state.rule_counts.get(primary.name, {})
    return Snapshot(
        score=score,
        fit_points=round(view.fit, 2),
        grade=grade,
        matrix=view.matrix,
        temperature=temperature(score, state.bant, primary),
        contributors=tuple(
            (rule_id, round(points, 2), counts.get(rule_id, 0))
            for rule_id, points in ranked[:_TOP_CONTRIBUTORS]
        ),
        scores={
            m.name: round(behaviour_score(state.components.get(m.name, {}), m, at), 2)
            for m in models.all
        },
        bant_status=(bant_verdict(state.bant, primary.lifecycle.bant.hold_back_on).status
                     if state.bant else _NO_BANT.status),
    )


def bant_as_of(state: LeadState, models: ModelSet, at: float) -> BantVerdict:
    """The lead's BANT verdict with the facts as they stood at event time ``at``."""
    if not state.bant:  # most leads: nothing to look up on every touchpoint
        return _NO_BANT
    facts = profile_as_of(state.bant, state.bant_stamps, state.bant_history, at)
    return bant_verdict(facts, models.primary.lifecycle.bant.hold_back_on)


def entered(state: LeadState, stage: str) -> float | None:
    """When the lead last entered ``stage`` (from another stage)."""
    return next((entry["at"] for entry in reversed(state.history)
                 if entry["to"] == stage and entry["from"] != stage), None)


def _bant_qualifies(state: LeadState, models: ModelSet, grade: str, bant: BantVerdict) -> bool:
    """All four facts positive with a good enough grade; for a recycled lead, facts newer than
    its recycling (the BANT that got it there does not bring it back on its own)."""
    min_grade = models.primary.lifecycle.bant.qualify_min_grade
    if bant.status != "qualified" or min_grade is None or not grade_at_least(grade, min_grade):
        return False
    if state.stage != Stage.RECYCLED:
        return True
    since = entered(state, Stage.RECYCLED)
    return since is None or max(stamp[0] for stamp in state.bant_stamps.values()) > since


def _mql_guard(score: float, grade: str, model: ScoringModel) -> bool:
    guard = model.lifecycle.mql
    return score >= guard.min_score and grade_at_least(grade, guard.min_grade)


def _newly_engaged(state: LeadState, model: ScoringModel, at: float) -> bool:
    """Outside ``recycled`` always true; inside, enough points must be new since recycling."""
    if state.stage != Stage.RECYCLED or state.recycled_components is None:
        return True
    at = max(at, state.last_event_at or at)
    now = behaviour_score(state.components.get(model.name, {}), model, at)
    before = behaviour_score(state.recycled_components, model, at)
    return now - before >= model.lifecycle.reengage_min_points


def move(
    state: LeadState,
    models: ModelSet,
    to: str,
    reason: str,
    trigger: Trigger,
    *,
    kind: str = "stage_transition",
    detail: str | None = None,
    routing_extra: dict[str, Any] | None = None,
    view_at: float | None = None,
) -> Transition:
    """Record a transition (or, with ``kind='sla_breach'``, a breach; with ``kind='lead_updated'``,
    an update of an unchanged stage) and return its event. ``view_at``: the event time its
    scores are taken at (default: the later of its own and the lead's newest event).

    An update's id names its trigger (the message that changed the lead), not a count: how many
    updates a lead gets depends on the order its messages arrive in, its transitions' ids do not.
    """
    trigger_id, at = trigger.id, trigger.at
    label = to if kind == "stage_transition" else kind
    entry = state.stage_entries.get(label, 0) + 1
    tid = (transition_id(state.lead_id, f"{label}\x1f{trigger_id}", 1, state.generation)
           if kind == "lead_updated" else transition_id(state.lead_id, label, entry, state.generation))
    score_at = max(at, state.last_event_at or at) if view_at is None else view_at
    if to == Stage.MQL and kind == "stage_transition":
        state.routing = route(state.lead_id, state.profile, models.primary)
        state.mql_since = at
        attribution.on_mql(state.attribution, state.trail, trigger_id, at)
    view = snapshot(state, models, score_at)
    transition = Transition(
        transition_id=tid,
        lead_id=state.lead_id,
        sequence=state.transitions + 1,
        kind=kind,
        from_stage=state.stage,
        to_stage=to,
        reason=reason,
        occurred_at=at,
        trigger_event_id=trigger_id,
        trigger_type=trigger.type,
        bant_status=view.bant_status,
        score=view.score,
        grade=view.grade,
        fit_points=view.fit_points,
        matrix=view.matrix,
        temperature=view.temperature,
        model_name=models.primary.name,
        model_version=models.primary.version,
        contributors=view.contributors,
        trail=tuple((e[0], e[1], e[2]) for e in state.trail),
        profile=dict(state.profile),
        bant=dict(state.bant),
        routing={k: v for k, v in {**state.routing, **(routing_extra or {})}.items() if k != "tried"},
        scores=view.scores,
        detail=detail,
        attribution=attribution.view(state.attribution, models),
        account_id=account_of(state.profile, models.accounts),
    )
    state.stage_entries[label] = entry
    state.stage = to
    if to == Stage.RECYCLED and kind == "stage_transition":
        primary_components = state.components.get(models.primary.name, {})
        state.recycled_components = {rule: list(c) for rule, c in primary_components.items()}
    if kind != "lead_updated":  # the stage history; updates would crowd it out
        state.history.append(
            {"transition_id": transition.transition_id, "from": transition.from_stage, "to": to,
             "reason": reason, "at": at, "event_id": trigger_id}
        )
        del state.history[:-HISTORY_LENGTH]
    if kept_for_replay(transition):  # (updates are not: they never push a transition out)
        state.outbox.append([trigger_id, transition.to_json()])
        del state.outbox[:-OUTBOX_LENGTH]
    return transition


#: ``LeadState.flags`` key: the disqualifying fit rules a CRM overruled by reinstating the lead
WAIVED = "waived_rules"


def waived_rules(state: LeadState) -> list[str]:
    return state.flags.get(WAIVED) or []


def _disqualify_if_ruled(
    state: LeadState, models: ModelSet, reason: str, trigger: Trigger
) -> list[Transition]:
    if state.stage not in OPEN_STAGES or state.stage == Stage.VISITOR:
        return []
    rule_id = disqualifying_rule(state.profile, models.primary, waived_rules(state))
    if rule_id is None:
        return []
    return [move(state, models, Stage.DISQUALIFIED, reason, trigger, detail=rule_id)]


def _promote(
    state: LeadState, models: ModelSet, reason_by_score: str, trigger: Trigger, hand_raiser: bool,
) -> list[Transition]:
    if state.stage not in PROMOTABLE:
        return []
    at = trigger.at
    primary = models.primary
    score_at = max(at, state.last_event_at or at)
    grade = primary.fit.grade(fit_points(state.profile, primary))
    if hand_raiser and grade_at_least(grade, primary.lifecycle.hand_raiser_min_grade):
        reason = "hand_raiser"  # an explicit request outranks an earlier opt-out (renewed consent)
    elif consent.blocks_score_promotion(state.consent, at):
        return []
    else:
        bant = bant_as_of(state, models, at)
        if _bant_qualifies(state, models, grade, bant):
            reason = "bant_qualified"
        elif bant.status == "held_back":
            return []
        else:
            # only what the guards read (not a snapshot): this runs on every touchpoint of an
            # MGL or recycled lead
            score = round(behaviour_score(state.components.get(primary.name, {}), primary,
                                          score_at), 2)
            if not (_mql_guard(score, grade, primary) and _newly_engaged(state, primary, at)):
                return []
            reason = reason_by_score
    return [move(state, models, Stage.MQL, reason, trigger)]


def catch_up(state: LeadState, models: ModelSet, *, since: float, trigger: Trigger) -> list[Transition]:
    """Decide an MGL's promotion in event time after facts from ``since`` on arrived late.

    The lead would have been promoted at the earliest of its touchpoints (from its first contact
    on) at which the guard held with the facts as of that touchpoint: score, grade and consent
    as of then, or a hand-raise with the grade as of then. A disqualifying profile as of an
    earlier touchpoint comes first. Only touchpoints from ``since`` on can have changed, so only
    they are looked at; the transitions carry the message that revealed them as their trigger
    and the event time at which they held as ``occurred_at``.
    """
    if state.stage != Stage.MGL:
        return []
    primary = models.primary
    lifecycle = primary.lifecycle
    start = max(since, state.contact_since if state.contact_since is not None else since)
    times = touchpoint_times(state, start)
    raises = [entry[0] for entry in state.hand_raises if entry[0] >= start]
    if not times and not raises:
        return []

    profiles: dict[float, Mapping[str, Any]] = {}  # a candidate is graded and checked once each
    waived = waived_rules(state)

    def profile_at(at: float) -> Mapping[str, Any]:
        if at not in profiles:
            profiles[at] = profile_as_of(state.profile, state.profile_stamps,
                                         state.profile_history, at)
        return profiles[at]

    def grade_at(at: float) -> str:
        return primary.fit.grade(fit_points(profile_at(at), primary))

    def disqualified_at(at: float) -> str | None:
        return disqualifying_rule(profile_at(at), primary, waived)

    promote: tuple[float, str] | None = None
    for at in raises:
        if grade_at_least(grade_at(at), lifecycle.hand_raiser_min_grade):
            promote = (at, "hand_raiser")
            break
    if times:
        for at, score in sorted(scores_as_of(state, primary, times)):
            if promote is not None and at >= promote[0]:
                break
            if consent.blocks_score_promotion(state.consent, at):
                continue
            bant = bant_as_of(state, models, at)
            if _bant_qualifies(state, models, grade_at(at), bant):
                promote = (at, "bant_qualified")
                break
            if bant.status != "held_back" and round(score, 2) >= lifecycle.mql.min_score \
                    and grade_at_least(grade_at(at), lifecycle.mql.min_grade):
                promote = (at, "score_threshold")
                break
    dq = next(((at, rule) for at in times if (rule := disqualified_at(at)) is not None), None)
    out: list[Transition] = []
    if promote is not None and (dq is None or promote[0] < dq[0]):
        out.append(move(state, models, Stage.MQL, promote[1], replace(trigger, at=promote[0])))
    if dq is not None:
        out.append(move(state, models, Stage.DISQUALIFIED, "disqualify_rule",
                        replace(trigger, at=dq[0]), detail=dq[1]))
    return out


def advance_on_touchpoint(
    state: LeadState, models: ModelSet, *, event_id: str, type: str, has_contact: bool, at: float,
    late_from: float | None = None,
) -> list[Transition]:
    """Move the lead as far as this (already applied) touchpoint allows.

    ``late_from``: facts from this event time on arrived after newer ones (a late touchpoint, a
    visitor's history): an MGL's promotion is then decided in event time (:func:`catch_up`).
    """
    out: list[Transition] = []
    trigger = Trigger(event_id, type, at)
    if state.stage == Stage.VISITOR and has_contact:
        out.append(move(state, models, Stage.MGL, "contact_identified", trigger))
    if late_from is not None and state.stage == Stage.MGL and \
            max(late_from, state.contact_since or late_from) < (state.last_event_at or at):
        return out + catch_up(state, models, since=late_from, trigger=trigger)
    # else nothing before this touchpoint can be decided again (a visitor's history that joins
    # with the lead's first contact): the guards as of now are the guards as of then
    out += _disqualify_if_ruled(state, models, "disqualify_rule", trigger)
    by_score = "re_engaged" if state.stage == Stage.RECYCLED else "score_threshold"
    out += _promote(state, models, by_score, trigger,
                    hand_raiser=type in models.primary.lifecycle.hand_raiser_types)
    return out


def re_evaluate(state: LeadState, models: ModelSet, trigger: Trigger) -> list[Transition]:
    """After a model change: the guards are checked again; what they cause says ``model_change``."""
    if state.models_ref == models.ref:
        return []
    state.models_ref = models.ref
    out = _disqualify_if_ruled(state, models, "model_change", trigger)
    out += _promote(state, models, "model_change", trigger, hand_raiser=False)
    return out
