"""Merge one lead's (or visitor's) state into another's: the union of both histories, counted once.

Every part of the state is an order-independent aggregate, so the union of two histories can be
built from the two aggregates alone, without the events:

* behaviour components are decayed unit sums: they add (``add_units`` moves one to the other's
  reference time);
* daily caps keep the counted ``[time, event id]`` entries per day: the union of both sides is
  capped again, and entries that no longer make the cut are taken back;
* an event both sides counted (a producer re-sent it under another identity) is taken back from
  the absorbed side, using what the dedupe window remembers it counted for;
* profile and BANT facts keep ``[time, event id]`` stamps: the later stamp wins, as it would have
  (and the profile values it replaced join the profile history);
* consent changes and hand-raises are event-time histories: their union;
* the first touch and the lead-creating touch are minima in event time: the earlier of the two.

So ``merge(apply(A), apply(B)) == apply(A ∪ B)`` for scores, counts, caps and profile, as long
as both histories fit the dedupe window and the cap bookkeeping (tests/unit/test_state_merge.py).
The survivor's lifecycle (stage, history, routing, SLA clock) stays as it is; the caller decides
what the merge changes there.
"""

from __future__ import annotations

from typing import Any

from leadstream.core import attribution, consent
from leadstream.core.model import BehaviourRule, ModelSet
from leadstream.core.profile import merge_latest
from leadstream.core.scoring import add_units
from leadstream.core.state import HAND_RAISES_KEPT, TRAIL_LENGTH, LeadState, event_key, trail_order

__all__ = ["merge_states"]


def merge_states(survivor: LeadState, absorbed: LeadState, models: ModelSet) -> None:
    """Fold ``absorbed`` into ``survivor`` (in place)."""
    shared = [key for key in absorbed.seen if key in survivor.seen]
    shared_touchpoints = sum(1 for key in shared if absorbed.seen[key][1] is not None)
    _take_back(absorbed, shared, models)
    _add_components(survivor, absorbed, models)
    _merge_caps(survivor, absorbed, models)

    for name in list(absorbed.seen):
        if name not in survivor.seen:
            survivor.seen[name] = absorbed.seen[name]
    survivor.trim_seen()

    for name, (at, event_id) in absorbed.profile_stamps.items():
        merge_latest(survivor.profile, survivor.profile_stamps, {name: absorbed.profile.get(name)},
                     at, event_id, survivor.profile_history)
    for name, entries in absorbed.profile_history.items():
        for at, event_id, value in entries:
            merge_latest(survivor.profile, survivor.profile_stamps, {name: value}, at, event_id,
                         survivor.profile_history)
    for name, (at, event_id) in absorbed.bant_stamps.items():
        merge_latest(survivor.bant, survivor.bant_stamps, {name: absorbed.bant.get(name)}, at,
                     event_id, survivor.bant_history)
    for name, entries in absorbed.bant_history.items():
        for at, event_id, value in entries:
            merge_latest(survivor.bant, survivor.bant_stamps, {name: value}, at, event_id,
                         survivor.bant_history)

    consent.merge(survivor.consent, absorbed.consent)
    raises = {tuple(entry) for entry in survivor.hand_raises} | {tuple(e) for e in absorbed.hand_raises}
    survivor.hand_raises = [list(entry) for entry in sorted(raises)][-HAND_RAISES_KEPT:]
    survivor.contact_since = _pick(min, survivor.contact_since, absorbed.contact_since)
    attribution.merge(survivor.attribution, absorbed.attribution)
    survivor.touchpoints += max(0, absorbed.touchpoints - shared_touchpoints)
    survivor.first_event_at = _pick(min, survivor.first_event_at, absorbed.first_event_at)
    survivor.last_event_at = _pick(max, survivor.last_event_at, absorbed.last_event_at)

    trail = {entry[0]: entry for entry in survivor.trail}
    for entry in absorbed.trail:
        trail.setdefault(entry[0], entry)
    survivor.trail = sorted(trail.values(), key=trail_order)[-TRAIL_LENGTH:]

    for alias in (absorbed.lead_id, *absorbed.aliases):
        if alias != survivor.lead_id and alias not in survivor.aliases:
            survivor.aliases.append(alias)


def _rule(models: ModelSet, model: str, rule: str) -> BehaviourRule | None:
    for scoring in models.all:
        if scoring.name == model:
            return scoring.rule(rule)
    return None


def _half_life(models: ModelSet, model: str, rule: str) -> float | None:
    found = _rule(models, model, rule)
    return found.half_life_seconds if found is not None else None


def _take_back(state: LeadState, keys: list[str], models: ModelSet) -> None:
    """Remove these events' contributions from ``state`` (the other side counts them already)."""
    for key in keys:
        at, counted = state.seen[key]
        for model, rules in (counted or {}).items():
            components = state.components.get(model, {})
            counts = state.rule_counts.get(model, {})
            for rule in rules:
                if rule in components and at is not None:
                    components[rule] = add_units(components[rule], -1.0, at, _half_life(models, model, rule))
                if counts.get(rule):
                    counts[rule] -= 1
                days = state.capped.get(model, {}).get(rule, {})
                for day, taken in days.items():
                    days[day] = [entry for entry in taken if event_key(entry[1]) != key]
        state.seen[key] = [at, None if counted is None else {}]


def _add_components(survivor: LeadState, absorbed: LeadState, models: ModelSet) -> None:
    for model, components in absorbed.components.items():
        into = survivor.components.setdefault(model, {})
        for rule, (units, ref) in components.items():
            into[rule] = add_units(into.get(rule), units, ref, _half_life(models, model, rule))
    for model, counts in absorbed.rule_counts.items():
        into_counts = survivor.rule_counts.setdefault(model, {})
        for rule, count in counts.items():
            into_counts[rule] = into_counts.get(rule, 0) + count


def _merge_caps(survivor: LeadState, absorbed: LeadState, models: ModelSet) -> None:
    """Per capped rule and day, the earliest ``cap`` entries of both sides count; the rest are
    taken back (their units, their count, and the rule from their dedupe record)."""
    for model, rules in absorbed.capped.items():
        for rule, days in rules.items():
            into_days = survivor.capped.setdefault(model, {}).setdefault(rule, {})
            found = _rule(models, model, rule)
            cap = found.daily_cap if found is not None else None
            half_life = _half_life(models, model, rule)
            for day, taken in days.items():
                union = sorted(into_days.get(day, []) + taken)
                if cap is not None and len(union) > cap:
                    for at, event_id in union[cap:]:
                        components = survivor.components[model]
                        components[rule] = add_units(components[rule], -1.0, at, half_life)
                        survivor.rule_counts[model][rule] -= 1
                        record = survivor.seen.get(event_key(event_id)) or absorbed.seen.get(event_key(event_id))
                        if record is not None and rule in (record[1] or {}).get(model, ()):
                            record[1][model] = [r for r in record[1][model] if r != rule]
                    union = union[:cap]
                into_days[day] = union


def _pick(choose: Any, a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    if b is None:
        return a
    return choose(a, b)
