"""``lead_updated`` (reason ``lead_changed``): the CRM never keeps a stale view of a known lead.

Every handover event carries the lead's view (score, grade, temperature, owner, BANT, profile …);
the lead remembers the last one it published (``LeadState.published``). After each message about
a known lead, the view as of the lead's newest event is compared with it. It has *changed* when

* the engagement band, grade, temperature, owner, BANT status, a BANT fact or a profile field
  differs, or
* the behaviour score is ``lifecycle.updates.score_change`` or more away from the published one.

A change is published as a ``lead_updated`` event at once, unless the lead had one less than
``lifecycle.updates.interval_minutes`` of *event time* before: then it waits for the end of that
interval, when a tick publishes the lead as it is then (if it still differs). A stage transition in
between publishes the view anyway and cancels the wait.

Folding the handover topic by the highest ``sequence`` therefore gives, per lead, what
``GET /leads/{id}`` shows (score within ``score_change``) at most one interval after the last
change. Consent is not part of the view: every consent statement has its own ``consent_changed``
event, published at once.

Only the state and the messages' event times decide, so a replay of a log publishes the same
updates with the same ids; a replayed message re-publishes the update it caused (the lead keeps
it like a transition) and decides nothing anew.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import orjson

from leadstream.core.bant import verdict as bant_verdict
from leadstream.core.emitted import Transition
from leadstream.core.fit import fit_points
from leadstream.core.lifecycle import Trigger, move, temperature
from leadstream.core.model import ModelSet, ScoringModel
from leadstream.core.scoring import behaviour_score
from leadstream.core.state import LeadState

__all__ = ["VIEW_FIELDS", "published_view", "record", "current_view", "changes", "lead_changed",
           "due_at"]

#: what a published view holds, in order (the names are the ``detail`` of a ``lead_changed``)
VIEW_FIELDS = ("score", "band", "grade", "temperature", "owner", "bant_status", "bant", "profile")
_SCORE = 0

View = list[Any]


def _digest(values: Mapping[str, Any]) -> str:
    if not values:
        return ""
    raw = orjson.dumps(values, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    return hashlib.blake2b(raw, digest_size=8).hexdigest()


def published_view(event: Transition, model: ScoringModel) -> View:
    """The view a handover event carries, as the lead remembers it."""
    return [event.score, model.engagement.band(event.score), event.grade, event.temperature,
            event.routing.get("owner"), event.bant_status, _digest(event.bant),
            _digest(event.profile)]


def record(state: LeadState, models: ModelSet, emitted: list[Any]) -> None:
    """Remember the view of the last handover event among ``emitted`` (and, for an update, when)."""
    last = None
    for item in emitted:
        if isinstance(item, Transition) and item.lead_id == state.lead_id:
            last = item
            if item.kind == "lead_updated":
                state.updated_at = max(state.updated_at or item.occurred_at, item.occurred_at)
    if last is not None:
        state.published = published_view(last, models.primary)
        state.update_due = None


def current_view(state: LeadState, models: ModelSet, at: float) -> View:
    """The lead's view as of event time ``at`` (only what a change is judged by)."""
    primary = models.primary
    score = round(behaviour_score(state.components.get(primary.name, {}), primary, at), 2)
    grade = primary.fit.grade(fit_points(state.profile, primary))
    return [score, primary.engagement.band(score), grade, temperature(score, state.bant, primary),
            state.routing.get("owner"),
            bant_verdict(state.bant, primary.lifecycle.bant.hold_back_on).status,
            _digest(state.bant), _digest(state.profile)]


def changes(published: View, current: View, score_change: float) -> list[str]:
    """The names of what changed (every field for a lead that never published a view here)."""
    if len(published) != len(VIEW_FIELDS):
        return list(VIEW_FIELDS)
    out = [name for index, name in enumerate(VIEW_FIELDS)
           if index != _SCORE and published[index] != current[index]]
    if abs(current[_SCORE] - published[_SCORE]) >= score_change:
        out.insert(0, "score")
    return out


def due_at(state: LeadState) -> float | None:
    """When a held-back change is to be published (a tick at this time publishes it)."""
    return state.update_due


def lead_changed(state: LeadState, models: ModelSet, trigger: Trigger) -> list[Transition]:
    """After a message about a known lead (``trigger.at``: the lead's clock, the latest event time
    it has seen, the message's included): a ``lead_updated`` if its view changed and the interval
    allows, else the time it will be published at (``state.update_due``)."""
    rules = models.primary.lifecycle.updates
    interval = rules.interval_seconds
    if interval is None:
        return []
    at = state.last_event_at if state.last_event_at is not None else trigger.at
    changed = changes(state.published, current_view(state, models, at), rules.score_change)
    if not changed:
        state.update_due = None
        return []
    if state.updated_at is not None and trigger.at < state.updated_at + interval:
        state.update_due = state.updated_at + interval
        return []
    update = move(state, models, state.stage, "lead_changed", trigger, kind="lead_updated",
                  detail=",".join(changed), view_at=at)
    record(state, models, [update])
    return [update]
