"""``apply(state, message, model) -> (state, emitted)``: the single entry point of the core."""

from __future__ import annotations

from typing import Any

from leadstream.core.emitted import (
    ConsentChanged,
    Counted,
    Delete,
    NurtureSignal,
    Duplicate,
    Emitted,
    Rejected,
    Transition,
    consent_change_id,
    nurture_signal_id,
)
from leadstream.core.fit import disqualifying_rules
from leadstream.core.lifecycle import (OPEN_STAGES, WAIVED, Trigger, advance_on_touchpoint, entered,
                                       move, re_evaluate, snapshot, waived_rules)
from leadstream.core.messages import Absorb, Feedback, Link, Message, Tick, Touchpoint
from leadstream.core import attribution, consent, identity_flow, updates
from leadstream.core.model import BehaviourRule, Lifecycle, ModelSet, ScoringModel
from leadstream.core.profile import BANT_FIELDS, merge_latest
from leadstream.core.routing import next_owner
from leadstream.core.scoring import add_units
from leadstream.core.stages import Stage
from leadstream.core.state import (CAP_DAYS_KEPT, HAND_RAISES_KEPT, TRAIL_LENGTH, LeadState,
                                   trail_order)

__all__ = ["apply", "next_deadline", "VERDICT_RULES", "WON_AMOUNT"]

#: verdict → (stages it may come from, stage it leads to, reason code)
VERDICT_RULES: dict[str, tuple[frozenset[str], str, str]] = {
    "accepted": (frozenset({"mql"}), "sal", "sales_accepted"),
    "rejected": (frozenset({"mql", "sal"}), "recycled", "sales_rejected"),
    "qualified": (frozenset({"sal"}), "sql", "sales_qualified"),
    "won": (frozenset({"sql"}), "won", "closed_won"),
    "lost": (frozenset({"sal", "sql"}), "lost", "closed_lost"),
    "disqualified": (OPEN_STAGES - {"visitor"}, "disqualified", "sales_disqualified"),
    "reinstated": (frozenset({"disqualified"}), "recycled", "sales_reinstated"),
}
_DAY = 86400.0
_STALLED = "stalled"  # stage_entries key: the MGL entry a stall was signalled for
WON_AMOUNT = "won_amount"  # flags key: the value of the lead's (latest) won deal


def apply(
    state: LeadState | None, message: Message, model: ScoringModel | ModelSet, *,
    generation: int = 0,
) -> tuple[LeadState | None, list[Emitted]]:
    """Apply one message to a lead's state; return the state to keep and what to publish.

    ``apply`` takes ownership of ``state``: it may change it in place, and the caller keeps only
    the state it returns. A message whose id was already applied changes nothing; it re-emits the
    events it caused the first time (same ids, same content), because after a crash the state may
    have been saved while the handover was not yet published. The state is ``None`` only when a
    message about an unknown lead is rejected. ``generation``: for an id without a state, how
    often it was erased before (``Delete.generation`` of its last erasure); a new state starts
    there.
    """
    models = ModelSet.of(model)
    if state is not None and state.merged_into is not None:
        if identity_flow.came_back(state, message):
            assert isinstance(message, Absorb)
            return identity_flow.revive(state, message)
        return state, identity_flow.forward(state, message)
    before = _published_consent(state)
    message_id = _message_id(message)
    replayed = state is not None and message_id is not None and state.has_seen(message_id)
    state, emitted = _dispatch(state, message, models, generation)
    # a message whose last effect was a transition published the lead's view as it is now
    fresh = bool(emitted) and isinstance(emitted[-1], Transition) and not isinstance(message, Tick)
    if state is not None and (state.consent or before):
        emitted.extend(_consent_events(state, message, before, replayed, emitted))
    if state is not None and not replayed and _known(state):
        emitted.extend(_lead_updates(state, message, models, emitted, fresh))
    if state is not None:
        emitted.extend(_recycled_signals(state, models, emitted))
        if isinstance(message, Tick) and not replayed \
                and any(isinstance(item, Transition) for item in emitted):
            # so that the tick, re-sent after a crash, re-publishes its transitions (a tick
            # that changed nothing is not remembered: it would only crowd the dedupe window)
            state.remember(message.tick_id, message.now)
    return state, emitted


def _lead_updates(state: LeadState, message: Message, models: ModelSet,
                  emitted: list[Emitted], fresh: bool) -> list[Emitted]:
    """Remember what this message published; publish a change of the lead's view it made (or one
    held back until now, on a tick) as a ``lead_updated`` (core/updates.py)."""
    if models.primary.lifecycle.updates.interval_minutes is None:
        return []
    updates.record(state, models, emitted)
    if fresh:
        return []
    if isinstance(message, Tick):
        due = updates.due_at(state)
        if due is None or message.now < due:
            return []
        clock = message.now
    elif any(isinstance(item, Rejected | Duplicate | Delete) for item in emitted):
        return []
    else:
        at = _message_time(message)
        clock = at if state.last_event_at is None or at > state.last_event_at else state.last_event_at
    changed = updates.due_changes(state, models, clock)
    if not changed:
        return []
    trigger = Trigger(_trigger_id(message), _trigger_type(message), clock)
    return [updates.publish(state, models, trigger, changed)]


def _recycled_signals(state: LeadState, models: ModelSet, emitted: list[Emitted]) -> list[Emitted]:
    """A nurture signal for every move into ``recycled`` (re-derived when a replayed trigger
    re-publishes the move, with the same id)."""
    return [NurtureSignal(
        nurture_signal_id(state.lead_id, f"after\x1f{item.transition_id}", 1, state.generation),
        item.lead_id, "went_cold" if item.reason == "went_cold" else "recycled", item.reason,
        item.to_stage, item.occurred_at, item.trigger_event_id, item.score, item.grade)
        for item in emitted
        if isinstance(item, Transition) and item.kind == "stage_transition"
        and item.to_stage == Stage.RECYCLED]


def _dispatch(state: LeadState | None, message: Message, models: ModelSet,
              generation: int) -> tuple[LeadState | None, list[Emitted]]:
    if state is None and generation:
        fresh = LeadState(lead_id=message.lead_id, models_ref=models.ref, generation=generation)
        if isinstance(message, Touchpoint):
            return touchpoint(fresh, message, models)
        if isinstance(message, Absorb):
            return identity_flow.handle(fresh, message, models, touchpoint)
    if isinstance(message, Touchpoint):
        return touchpoint(state, message, models)
    if isinstance(message, Feedback):
        return _feedback(state, message, models)
    if isinstance(message, Tick):
        return _tick(state, message, models)
    return identity_flow.handle(state, message, models, touchpoint)


# -- consent, published -----------------------------------------------------------------------


def _known(state: LeadState | None) -> bool:
    return state is not None and state.stage != Stage.VISITOR and state.merged_into is None


def _message_id(message: Message) -> str | None:
    """The id a lead remembers ``message`` by, if it dedupes it."""
    if isinstance(message, Touchpoint):
        return message.event_id
    if isinstance(message, Absorb):
        return message.absorb_id
    if isinstance(message, Feedback):
        return message.feedback_id
    if isinstance(message, Tick):
        return message.tick_id
    return None


def _message_time(message: Message) -> float:
    if isinstance(message, Touchpoint | Feedback):
        return message.occurred_at
    if isinstance(message, Tick):
        return message.now
    if isinstance(message, Link):
        return message.touchpoint.occurred_at
    return message.at


def _trigger_id(message: Message) -> str:
    if isinstance(message, Absorb) and message.then is not None:
        return message.then.event_id
    found = _message_id(message)
    if found is not None:
        return found
    if isinstance(message, Link):
        return message.touchpoint.event_id
    return getattr(message, "merge_id", None) or getattr(message, "erase_id", "")


def _trigger_type(message: Message) -> str:
    if isinstance(message, Touchpoint):
        return message.type
    if isinstance(message, Absorb) and message.then is not None:
        return message.then.type
    return {Feedback: "feedback", Tick: "tick", Absorb: "merge"}.get(type(message), "merge")


def _published_consent(state: LeadState | None) -> frozenset[tuple[float, str, str, str]] | None:
    """The consent entries already published for this lead (all of them once it is known);
    ``None`` for an unknown lead or a visitor."""
    if not _known(state):
        return None
    assert state is not None
    return frozenset(tuple(entry) for entry in state.consent)  # type: ignore[misc]


def _consent_events(state: LeadState, message: Message,
                    before: frozenset[tuple[float, str, str, str]] | None, replayed: bool,
                    emitted: list[Emitted]) -> list[Emitted]:
    """A ``consent_changed`` event for each consent entry a known lead holds that was not
    published yet: one recorded now, one that came with a visitor's or merged lead's history,
    or all of them when the lead becomes known. Each is published once whatever the arrival
    order (its id is the entry's), and again when the message that published it is replayed."""
    if not _known(state):
        return []
    entries = [tuple(entry) for entry in state.consent]
    if replayed:
        identified = any(isinstance(item, Transition) and item.reason == "contact_identified"
                         for item in emitted)
        if isinstance(message, Absorb):
            chosen = entries
        elif identified and isinstance(message, Touchpoint):
            # what the lead held when this touchpoint made it known (a later statement was
            # published by its own message, which re-publishes it when replayed)
            chosen = [e for e in entries
                      if e[0] <= message.occurred_at or e[3] == message.event_id]
        else:
            chosen = [e for e in entries if e[3] == _message_id(message)]
    elif before is None:
        chosen = entries
    else:
        chosen = [e for e in entries if e not in before]
    return [ConsentChanged(consent_change_id(state.lead_id, e, state.generation),  # type: ignore[arg-type]
                           state.lead_id, e[1], e[2], e[0], e[3]) for e in chosen]


def _replay(state: LeadState, message_id: str, kind: str) -> list[Emitted]:
    out: list[Emitted] = [Duplicate(message_id, kind)]
    out.extend(Transition.from_json(text) for text in state.kept_for(message_id))
    return out


# -- touchpoints -------------------------------------------------------------------------------


def touchpoint(
    state: LeadState | None, message: Touchpoint, models: ModelSet, *, late_from: float | None = None
) -> tuple[LeadState | None, list[Emitted]]:
    """Apply a touchpoint. ``late_from``: facts from that event time on were just added to the
    state by other means (a visitor's history), so decisions from then on are taken again."""
    if state is None:
        state = LeadState(lead_id=message.lead_id, models_ref=models.ref)
    elif state.has_seen(message.event_id):
        return state, _replay(state, message.event_id, message.type)
    at = message.occurred_at
    max_lateness = models.primary.lifecycle.max_lateness_days * _DAY
    if state.last_event_at is not None and at < state.last_event_at - max_lateness:
        return state, [Rejected(
            message.event_id, "too_late",
            f"occurred {(state.last_event_at - at) / _DAY:.1f} days before the lead's newest "
            f"touchpoint; max_lateness_days is {models.primary.lifecycle.max_lateness_days:g}",
        )]
    trigger = Trigger(message.event_id, message.type, at)
    emitted: list[Emitted] = list(re_evaluate(state, models, trigger))
    emitted += _back_to_nurture(state, models, trigger)
    if state.last_event_at is not None and at < state.last_event_at:
        late_from = at if late_from is None else min(late_from, at)
    state.touchpoints += 1
    state.first_event_at = at if state.first_event_at is None else min(state.first_event_at, at)
    state.last_event_at = at if state.last_event_at is None else max(state.last_event_at, at)

    counted: dict[str, list[str]] = {}
    for scoring in models.all:
        rules = [r.id for r in scoring.rules_for(message) if _count(state, scoring, r, message)]
        if rules:
            counted[scoring.name] = rules
    state.remember(message.event_id, at, counted)

    payload: Any = message.payload
    profile = payload.get("profile")
    if profile:
        merge_latest(state.profile, state.profile_stamps, profile, at, message.event_id,
                     state.profile_history)
    bant = payload.get("bant")
    if bant:  # most touchpoints carry none (and merging only Nones changes nothing)
        merge_latest(state.bant, state.bant_stamps, {k: bant.get(k) for k in BANT_FIELDS}, at,
                     message.event_id, state.bant_history)
    if message.has_contact and (state.contact_since is None or at < state.contact_since):
        state.contact_since = at
    attribution.record(state.attribution, message)
    hand_raiser = message.type in models.primary.lifecycle.hand_raiser_types
    _record_consent(state, message, models, hand_raiser)
    _append_trail(state, message)

    emitted.append(Counted(message.event_id, message.type, tuple(counted.get(models.primary.name, ()))))
    emitted.extend(
        advance_on_touchpoint(
            state, models, event_id=message.event_id, type=message.type,
            has_contact=message.has_contact, at=at, late_from=late_from,
        )
    )
    return state, emitted


def _record_consent(state: LeadState, message: Touchpoint, models: ModelSet, hand_raiser: bool) -> None:
    """Opt-outs, re-subscriptions and hand-raises, in event time (core/consent.py)."""
    at, event_id = message.occurred_at, message.event_id
    if message.type in models.primary.lifecycle.suppress_types:
        consent.record(state.consent, at, consent.scope_of(message.payload), consent.OPTED_OUT,
                       event_id)
    elif message.type == "newsletter_signup":
        consent.record(state.consent, at, "newsletter", consent.OPTED_IN, event_id)
    elif message.type == "email_bounce" and message.payload.get("bounce") == "hard":
        consent.record(state.consent, at, consent.EMAIL, consent.BOUNCED, event_id)
    if hand_raiser:
        consent.record(state.consent, at, "all", consent.OPTED_IN, event_id)
        raises = state.hand_raises
        raises.append([at, event_id])
        if len(raises) > 1 and raises[-2] > raises[-1]:
            raises.sort()
        del raises[:-HAND_RAISES_KEPT]


def _count(state: LeadState, model: ScoringModel, rule: BehaviourRule, message: Touchpoint) -> bool:
    """Add the touchpoint to the rule's component, honouring the daily cap order-independently.

    With a cap of N, the N *earliest* touchpoints of a UTC day count (ties by event id), whatever
    order they arrive in: a late, earlier touchpoint takes the place of the latest counted one.
    """
    components = state.components.setdefault(model.name, {})
    counts = state.rule_counts.setdefault(model.name, {})
    half_life = rule.half_life_seconds
    at = message.occurred_at
    if rule.daily_cap is not None:
        days = state.capped.setdefault(model.name, {}).setdefault(rule.id, {})
        day = str(int(at // _DAY))
        taken = days.setdefault(day, [])
        entry = [at, message.event_id]
        if len(taken) >= rule.daily_cap:
            latest = taken[-1]
            if entry >= latest:
                return False
            taken[-1] = entry
            taken.sort()
            state.uncount(latest[1], model.name, rule.id)
            components[rule.id] = add_units(components.get(rule.id), -1.0, latest[0], half_life)
            components[rule.id] = add_units(components[rule.id], 1.0, at, half_life)
            return True
        taken.append(entry)
        taken.sort()
        newest = max(int(d) for d in days)
        for old in [d for d in days if int(d) < newest - CAP_DAYS_KEPT]:
            del days[old]
    components[rule.id] = add_units(components.get(rule.id), 1.0, at, half_life)
    counts[rule.id] = counts.get(rule.id, 0) + 1
    return True


def _append_trail(state: LeadState, message: Touchpoint) -> None:
    """Keep the newest ``TRAIL_LENGTH`` touchpoints in event-time order (ties by event id)."""
    trail = state.trail
    entry = [message.event_id, message.type, message.occurred_at]
    if message.source is not None or message.campaign is not None or message.channel is not None:
        entry += [message.source, message.campaign, message.channel]  # for the MQL touch
    trail.append(entry)
    if len(trail) > 1 and trail_order(trail[-2]) > trail_order(entry):  # a late one: re-sort
        trail.sort(key=trail_order)
    del trail[:-TRAIL_LENGTH]


# -- CRM feedback ------------------------------------------------------------------------------


def _feedback(
    state: LeadState | None, message: Feedback, models: ModelSet
) -> tuple[LeadState | None, list[Emitted]]:
    if state is None or state.stage == Stage.VISITOR:
        return state, [Rejected(message.feedback_id, "unknown_lead",
                                f"no known lead {message.lead_id!r} for verdict '{message.verdict}'")]
    if state.has_seen(message.feedback_id):
        return state, _replay(state, message.feedback_id, "feedback")
    allowed, to, reason = VERDICT_RULES[message.verdict]
    if state.stage not in allowed:
        return state, [Rejected(
            message.feedback_id, "impossible_verdict",
            f"verdict '{message.verdict}' needs a lead in stage {' or '.join(sorted(allowed))}; "
            f"lead {message.lead_id!r} is '{state.stage}'",
        )]
    state.remember(message.feedback_id, message.occurred_at)
    merge_latest(state.bant, state.bant_stamps,
                 {k: message.bant.get(k) for k in BANT_FIELDS}, message.occurred_at, message.feedback_id,
                 state.bant_history)
    if message.verdict == "won" and message.amount is not None:
        state.flags[WON_AMOUNT] = message.amount
    if message.verdict == "accepted" and message.owner:
        state.routing = {**state.routing, "owner": message.owner}
    if message.verdict == "reinstated":
        # a person overruled the profile: the rules that match it now no longer disqualify
        waived = sorted({*waived_rules(state), *disqualifying_rules(state.profile, models.primary)})
        if waived:
            state.flags[WAIVED] = waived
    if state.stage == Stage.MQL:
        state.mql_since = None
    # its view as of the lead's newest touchpoint, as GET /leads shows it: a verdict changes no
    # score (decayed to the verdict's time, the next touchpoint would publish the score again)
    transition = move(state, models, to, reason,
                      Trigger(message.feedback_id, "feedback", message.occurred_at),
                      detail=message.reason, view_at=state.last_event_at)
    return state, [transition]


# -- time --------------------------------------------------------------------------------------


def next_deadline(state: LeadState, model: ScoringModel | ModelSet) -> float | None:
    """The earliest time at which a tick would change this lead (going cold, SLA breach).

    The worker ticks a lead at this time; a tick before it changes nothing.
    """
    lifecycle = ModelSet.of(model).primary.lifecycle
    due = [at for at in (_cold_at(state, lifecycle), _sla_at(state, lifecycle),
                         _nurture_at(state, lifecycle), _stalled_at(state, lifecycle),
                         updates.due_at(state))
           if at is not None]
    return min(due) if due else None


# ``_tick`` and ``next_deadline`` share these so that a tick at exactly the deadline fires.
def _cold_at(state: LeadState, lifecycle: Lifecycle) -> float | None:
    idle_limit = lifecycle.recycle_after_days
    if (idle_limit is None or state.stage not in (Stage.MQL, Stage.SAL)
            or state.last_event_at is None):
        return None
    return state.last_event_at + idle_limit * _DAY


def _sla_at(state: LeadState, lifecycle: Lifecycle) -> float | None:
    if state.stage != Stage.MQL or state.mql_since is None:
        return None
    return state.mql_since + lifecycle.sla_hours * 3600.0


def _nurture_at(state: LeadState, lifecycle: Lifecycle) -> float | None:
    """When a lost lead goes back to nurturing: the cool-off after the time it was lost."""
    if state.stage != Stage.LOST or lifecycle.lost_cool_off_days is None:
        return None
    lost_at = entered(state, Stage.LOST)
    return None if lost_at is None else lost_at + lifecycle.lost_cool_off_days * _DAY


def _stalled_at(state: LeadState, lifecycle: Lifecycle) -> float | None:
    """When an MGL counts as stalled: ``stall_after_days`` after it became one (once per entry)."""
    if state.stage != Stage.MGL or lifecycle.stall_after_days is None:
        return None
    entry = state.stage_entries.get(Stage.MGL, 0)
    if state.stage_entries.get(_STALLED, 0) >= entry:
        return None  # signalled for this entry already
    since = entered(state, Stage.MGL)
    return None if since is None else since + lifecycle.stall_after_days * _DAY


def _stall_signal(state: LeadState, models: ModelSet, tick: Tick) -> list[Emitted]:
    due = _stalled_at(state, models.primary.lifecycle)
    if due is None or tick.now < due:
        return []
    entry = state.stage_entries.get(Stage.MGL, 0)
    state.stage_entries[_STALLED] = entry
    view = snapshot(state, models, due)
    return [NurtureSignal(nurture_signal_id(state.lead_id, _STALLED, entry, state.generation),
                          state.lead_id, "stalled", "no_progress", state.stage, due, tick.tick_id,
                          view.score, view.grade)]


def _back_to_nurture(state: LeadState, models: ModelSet, trigger: Trigger) -> list[Emitted]:
    """lost → recycled once the cool-off has passed at ``trigger.at`` (a tick, or a touchpoint
    after it: the lead is recycled as of the cool-off's end, before the touchpoint counts, so a
    demo request a year later reaches sales)."""
    due = _nurture_at(state, models.primary.lifecycle)
    if due is None or trigger.at < due:
        return []
    return [move(state, models, Stage.RECYCLED, "nurture", Trigger(trigger.id, trigger.type, due))]


def _tick(state: LeadState | None, message: Tick, models: ModelSet) -> tuple[LeadState | None, list[Emitted]]:
    """Time-driven changes. Idempotent without dedupe: each check changes what it checks."""
    if state is None:
        return None, []
    if state.has_seen(message.tick_id):  # re-sent after a crash: re-publish what it caused
        return state, [Transition.from_json(text) for text in state.kept_for(message.tick_id)]
    now = message.now
    out: list[Emitted] = list(
        re_evaluate(state, models, Trigger(message.tick_id, "tick", now))
    )
    out += _back_to_nurture(state, models, Trigger(message.tick_id, "tick", now))
    out += _stall_signal(state, models, message)
    lifecycle = models.primary.lifecycle
    cold_at = _cold_at(state, lifecycle)
    if cold_at is not None and now >= cold_at:
        state.mql_since = None
        out.append(move(state, models, Stage.RECYCLED, "went_cold",
                        Trigger(message.tick_id, "tick", now)))
    sla_at = _sla_at(state, lifecycle)
    if sla_at is not None and now >= sla_at:
        previous = state.routing.get("owner")
        owner = next_owner(state.lead_id, state.routing, models.primary)
        tried = list(state.routing.get("tried", []))
        if owner:
            # once every owner was tried the ranking starts over; the list stays team-sized
            tried = [owner] if owner in tried else [*tried, owner]
        state.routing = {**state.routing, "owner": owner, "tried": tried}
        state.sla_breaches += 1
        state.mql_since = now
        out.append(move(state, models, Stage.MQL, "sla_breach",
                        Trigger(message.tick_id, "tick", now), kind="sla_breach",
                        routing_extra={"previous_owner": previous}))
    return state, out
