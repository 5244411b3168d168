"""``lead_updated`` (reason ``lead_changed``): the CRM never keeps a stale view of a known lead.

Every handover event carries the lead's view (score, grade, temperature, owner, BANT, profile …);
the lead remembers the last one it published (``LeadState.published``). After each message about
a known lead, the view as of the lead's newest event is compared with it. It has *changed* when

* the engagement band, grade, temperature, owner, BANT status, a BANT fact or a profile field
  differs, or
* with ``lifecycle.updates.score_change`` set, the behaviour score is that far or more from the
  published one (by default only a new engagement band counts).

A change is published as a ``lead_updated`` event at once, unless the lead had one less than
``lifecycle.updates.interval_minutes`` of *event time* before: then it waits for the end of that
interval, when a tick publishes the lead as it is then (if it still differs). A stage transition in
between publishes the view anyway and cancels the wait.

Folding the handover topic by the highest ``sequence`` therefore gives, per lead, what
``GET /leads/{id}`` shows (the score in the same engagement band, and within ``score_change``
when it is set) at most one interval after the last
change. Consent is not part of the view: every consent statement has its own ``consent_changed``
event, published at once.

Only the state and the messages' event times decide, so a replay of a log publishes the same
updates with the same ids. Unlike a transition, an update is not kept in the state for a replay
to re-publish (that would add a full snapshot to every lead's state): the worker sends it
*before* it stores the state the update was decided on. A crash before the state is stored
replays the messages on the state before them, which decides the same update again (same id,
same content); after it, the update is in Kafka already, and a replayed message decides nothing
anew.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from typing import Any

import orjson

from leadstream.core.bant import verdict as bant_verdict
from leadstream.core.emitted import Transition
from leadstream.core.fit import fit_points
from leadstream.core.lifecycle import Trigger, move, temperature
from leadstream.core.model import ModelSet
from leadstream.core.scoring import behaviour_score
from leadstream.core.state import LeadState

__all__ = ["VIEW_FIELDS", "published_view", "record", "current_view", "changes", "due_changes",
           "publish", "due_at"]

#: what a published view holds, in order (the names are the ``detail`` of a ``lead_changed``)
VIEW_FIELDS = ("score", "band", "grade", "temperature", "owner", "bant_status", "bant", "profile")
_SCORE, _GRADE, _BANT_STATUS, _BANT, _PROFILE, _MODELS = 0, 2, 5, 6, 7, 8

View = list[Any]


def _digest(values: Mapping[str, Any]) -> int:
    """A fingerprint of a profile or BANT (a CRC suffices: it only tells "changed" from "same")."""
    if not values:
        return 0
    return zlib.crc32(orjson.dumps(values, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS))


def published_view(event: Transition, models: ModelSet) -> View:
    """The view a handover event carries, as the lead remembers it (and the models it was made
    with: while they stay, an unchanged profile keeps its grade)."""
    return [event.score, models.primary.engagement.band(event.score), event.grade,
            event.temperature, event.routing.get("owner"), event.bant_status, _digest(event.bant),
            _digest(event.profile), models.ref]


def record(state: LeadState, models: ModelSet, emitted: list[Any]) -> None:
    """Remember the view of the last handover event among ``emitted`` (and, for an update, when)."""
    last = None
    for item in emitted:
        if isinstance(item, Transition) and item.lead_id == state.lead_id:
            last = item
            if item.kind == "lead_updated":
                state.updated_at = max(state.updated_at or item.occurred_at, item.occurred_at)
    if last is not None:
        state.published = published_view(last, models)
        state.update_due = None


def current_view(state: LeadState, models: ModelSet, at: float) -> View:
    """The lead's view as of event time ``at`` (only what a change is judged by)."""
    primary = models.primary
    published = state.published
    same_models = len(published) == len(VIEW_FIELDS) + 1 and published[_MODELS] == models.ref
    score = round(behaviour_score(state.components.get(primary.name, {}), primary, at), 2)
    profile = _digest(state.profile)
    if same_models and profile == published[_PROFILE]:
        grade = published[_GRADE]  # grading every touchpoint's profile again costs the most
    else:
        grade = primary.fit.grade(fit_points(state.profile, primary))
    bant = _digest(state.bant)
    if same_models and bant == published[_BANT]:
        bant_status = published[_BANT_STATUS]
    else:
        bant_status = bant_verdict(state.bant, primary.lifecycle.bant.hold_back_on).status
    return [score, primary.engagement.band(score), grade, temperature(score, state.bant, primary),
            state.routing.get("owner"), bant_status, bant, profile, models.ref]


def changes(published: View, current: View, score_change: float | None) -> list[str]:
    """The names of what changed (every field for a lead that never published a view here)."""
    if len(published) != len(VIEW_FIELDS) + 1:
        return list(VIEW_FIELDS)
    moved = score_change is not None and abs(current[_SCORE] - published[_SCORE]) >= score_change
    if not moved and current[1:8] == published[1:8]:
        return []  # most messages
    out = [name for index, name in enumerate(VIEW_FIELDS)
           if index != _SCORE and published[index] != current[index]]
    if moved:
        out.insert(0, "score")
    return out


def due_at(state: LeadState) -> float | None:
    """When a held-back change is to be published (a tick at this time publishes it)."""
    return state.update_due


def due_changes(state: LeadState, models: ModelSet, clock: float) -> list[str]:
    """After a message about a known lead (``clock``: the latest event time the lead has seen,
    the message's included): what changed, if a ``lead_updated`` is to be published now; else
    nothing, and when a change is held back, the time it will be (``state.update_due``)."""
    rules = models.primary.lifecycle.updates
    interval = rules.interval_seconds
    if interval is None:
        return []
    at = state.last_event_at if state.last_event_at is not None else clock
    changed = changes(state.published, current_view(state, models, at), rules.score_change)
    if not changed:
        state.update_due = None
        return []
    if state.updated_at is not None and clock < state.updated_at + interval:
        state.update_due = state.updated_at + interval
        return []
    return changed


def publish(state: LeadState, models: ModelSet, trigger: Trigger, changed: list[str]) -> Transition:
    """The ``lead_updated`` for ``changed`` (from :func:`due_changes`), its view as of the lead's
    newest event (what ``GET /leads/{id}`` shows)."""
    at = state.last_event_at if state.last_event_at is not None else trigger.at
    update = move(state, models, state.stage, "lead_changed", trigger, kind="lead_updated",
                  detail=",".join(changed), view_at=at)
    record(state, models, [update])
    return update
