"""``apply(state, message, model) -> (state, emitted)``: the single entry point of the core."""

from __future__ import annotations

from typing import Any

from leadstream.core.emitted import Counted, Duplicate, Emitted, Transition
from leadstream.core.lifecycle import advance
from leadstream.core.messages import Touchpoint
from leadstream.core.model import ScoringModel
from leadstream.core.scoring import add_points
from leadstream.core.state import TRAIL_LENGTH, LeadState

__all__ = ["apply"]


def apply(
    state: LeadState | None, message: Touchpoint, model: ScoringModel
) -> tuple[LeadState, list[Emitted]]:
    """Apply one touchpoint to a lead's state.

    A touchpoint whose ``event_id`` was already applied changes nothing; it re-emits the
    transitions it triggered the first time (same ids, same content), because after a crash the
    state may have been saved while the handover was not yet published.
    """
    if state is None:
        state = LeadState(lead_id=message.lead_id)
    if state.has_seen(message.event_id):
        replayed: list[Emitted] = [Duplicate(message.event_id, message.type)]
        replayed.extend(
            Transition.from_primitive(t)
            for t in state.outbox
            if t["trigger_event_id"] == message.event_id
        )
        return state, replayed

    state.remember(message.event_id)
    state.touchpoints += 1
    at = message.occurred_at
    state.first_event_at = at if state.first_event_at is None else min(state.first_event_at, at)
    state.last_event_at = at if state.last_event_at is None else max(state.last_event_at, at)

    rules = model.rules_for(message)
    for rule in rules:
        state.components[rule.id] = add_points(
            state.components.get(rule.id), rule.points, at, rule.half_life_seconds
        )
        state.rule_counts[rule.id] = state.rule_counts.get(rule.id, 0) + 1

    _merge_profile(state, message)
    if message.type in model.lifecycle.suppress_types:
        state.flags["suppressed"] = True
    _append_trail(state, message)

    emitted: list[Emitted] = [Counted(message.event_id, message.type, tuple(r.id for r in rules))]
    emitted.extend(advance(state, message, model))
    return state, emitted


def _merge_profile(state: LeadState, message: Touchpoint) -> None:
    """Last write wins by event time; ties broken by event id so arrival order never matters."""
    profile: Any = message.payload.get("profile")
    if not profile:
        return
    stamp = [message.occurred_at, message.event_id]
    for name, value in profile.items():
        if value is None:
            continue
        current = state.profile_stamps.get(name)
        if current is None or stamp > current:
            state.profile[name] = value
            state.profile_stamps[name] = stamp


def _append_trail(state: LeadState, message: Touchpoint) -> None:
    entry = [message.event_id, message.type, message.occurred_at]
    state.trail.append(entry)
    state.trail.sort(key=lambda e: (e[2], e[0]))
    del state.trail[:-TRAIL_LENGTH]
