"""Identity across partitions: visitor links, merges of known leads, erasure (README, "Identity").

Each id's state lives on one partition, so work that involves two ids travels as messages
addressed to one id at a time (the shell sends every :class:`Send` keyed by its addressee):

visitor link (a touchpoint names ``anonymous_id`` *and* a contact)::

    Link → visitor:   retires (keeps only ``merged_into``), sends Absorb(its state, then=touchpoint)
    Absorb → lead:    merges the visitor's state, then applies the touchpoint

merge command (two known leads, X and Y)::

    MergeRequest → X: sends MergeOffer(X's stage and age) to Y
    MergeOffer → Y:   picks the survivor; if Y survives, sends Retire to X, else retires itself
    Retire → X:       retires, sends Absorb(X's state) to Y
    Absorb → survivor merges, re-checks the MQL guard, publishes ``leads_merged``

Conflicting merge commands in flight together (X into Y while Y into X) retire both ids: each
hand-over is then forwarded round the cycle back to the id it came from, which lives again with
its own history (:func:`revive`) and reports the merge as undone (``merge_conflict``).

A retired id forwards everything addressed to it to its survivor: anonymous-only touchpoints of a
linked visitor, touchpoints and verdicts for a merged-away lead id (ingest calls :func:`forward`
for a retired visitor itself where that keeps the visitor's order: streams/services/visitor_shortcut.py).
A retiring id hands over its state *before* its retired record is stored (``Send.before_state``),
so a crash in between replays the hand-over, and the survivor takes it in once (``absorb_id`` is
remembered like an event id).

A shared browser cookie never merges two known people: a visitor links to the first contact it is
seen with; later links to other contacts only forward the touchpoint.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Protocol

from leadstream.core.emitted import Delete, Emitted, Erased, LeadsMerged, Rejected, Send, Transition
from leadstream.core.lifecycle import Trigger, advance_on_touchpoint, catch_up, move
from leadstream.core.messages import (
    Absorb,
    Erase,
    Feedback,
    Link,
    MergeOffer,
    MergeRequest,
    Message,
    Retire,
    Tick,
    Touchpoint,
)
from leadstream.core.model import ModelSet
from leadstream.core.stages import Stage
from leadstream.core.state import LeadState
from leadstream.core.state_merge import merge_states

__all__ = ["handle", "forward", "came_back", "revive", "event_id_of", "STAGE_RANK",
           "pick_survivor"]


class ApplyTouchpoint(Protocol):
    def __call__(self, state: LeadState | None, message: Touchpoint, models: ModelSet, *,
                 late_from: float | None = None) -> tuple[LeadState | None, list[Emitted]]: ...

#: how far a lead has come; without an explicit survivor the more advanced lead survives
STAGE_RANK: dict[str, int] = {
    Stage.VISITOR: 0,
    Stage.DISQUALIFIED: 1,
    Stage.MGL: 2,
    Stage.RECYCLED: 2,
    Stage.LOST: 3,
    Stage.MQL: 3,
    Stage.SAL: 4,
    Stage.SQL: 5,
    Stage.WON: 6,
}


def handle(
    state: LeadState | None, message: Message, models: ModelSet, touchpoint: ApplyTouchpoint
) -> tuple[LeadState | None, list[Emitted]]:
    """Apply an identity message to a live (not retired) id."""
    if isinstance(message, Link):
        return _link(state, message)
    if isinstance(message, Absorb):
        return _absorb(state, message, models, touchpoint)
    if isinstance(message, MergeRequest):
        return _merge_request(state, message)
    if isinstance(message, MergeOffer):
        return _merge_offer(state, message)
    if isinstance(message, Retire):
        return _retire(state, message)
    if isinstance(message, Erase):
        return _erase(state, message)
    raise TypeError(f"not an identity message: {type(message).__name__}")


def _retired(lead_id: str, into: str, generation: int = 0) -> LeadState:
    return LeadState(lead_id=lead_id, merged_into=into, generation=generation)


# -- visitor links -----------------------------------------------------------------------------


def _link(state: LeadState | None, message: Link) -> tuple[LeadState, list[Emitted]]:
    touch = message.touchpoint
    absorb = Absorb(
        absorb_id=f"link:{touch.event_id}",
        lead_id=touch.lead_id,
        absorbed_id=message.lead_id,
        absorbed=state.to_primitive() if state is not None else None,
        rule="identified_visitor",
        at=touch.occurred_at,
        then=touch,
    )
    generation = state.generation if state is not None else 0
    return (_retired(message.lead_id, touch.lead_id, generation),
            [Send(absorb, before_state=True, note="linked")])


# -- the survivor's side -----------------------------------------------------------------------


def _absorb(
    state: LeadState | None, message: Absorb, models: ModelSet, touchpoint: ApplyTouchpoint
) -> tuple[LeadState | None, list[Emitted]]:
    emitted: list[Emitted] = []
    merged = _merged_event(message)
    late_from: float | None = None
    if state is not None and state.has_seen(message.absorb_id):
        # a replayed hand-over: nothing changes; re-publish what it caused the first time (not a
        # Duplicate: that counts touchpoints, and the linking touchpoint reports itself below)
        emitted.extend(Transition.from_json(text) for text in state.kept_for(message.absorb_id))
        if merged is not None:
            emitted.append(merged)
    else:
        if state is None:
            state = LeadState(lead_id=message.lead_id, models_ref=models.ref)
        known = state.stage != Stage.VISITOR
        if message.absorbed is not None:
            absorbed = LeadState.from_primitive(dict(message.absorbed))
            # the absorbed history is news from its first touchpoint on: decisions from then on
            # are taken again in event time (lifecycle.catch_up)
            late_from = absorbed.first_event_at
            merge_states(state, absorbed, models)
        elif message.absorbed_id not in state.aliases:
            # a cookie first seen with its contact: nothing to merge, but the retired visitor
            # record forwards here, and an erasure must find it
            state.aliases.append(message.absorbed_id)
        state.remember(message.absorb_id, message.at)
        if message.merge_id is not None:
            if late_from is not None and state.stage == Stage.MGL:
                emitted.extend(catch_up(state, models, since=late_from,
                                        trigger=Trigger(message.absorb_id, "merge", message.at)))
            else:
                emitted.extend(advance_on_touchpoint(
                    state, models, event_id=message.absorb_id, type="merge",
                    has_contact=True, at=message.at,
                ))
            if merged is not None:
                emitted.append(merged)
    if message.then is not None:
        then = message.then
        state, more = touchpoint(state, then, models, late_from=late_from)
        emitted.extend(more)
        if (late_from is not None and known and message.merge_id is None and state is not None
                and not any(isinstance(item, Transition) for item in more)):
            # the lead was handed over before its visitor's history joined it (an email-only
            # touchpoint came first): publish the corrected view, as its next transition would
            emitted.append(move(state, models, state.stage, "history_linked",
                                Trigger(then.event_id, then.type, then.occurred_at),
                                kind="lead_updated"))
    return state, emitted


def _merged_event(message: Absorb) -> LeadsMerged | None:
    if message.merge_id is None:
        return None
    return LeadsMerged(merge_id=message.merge_id, survivor=message.lead_id,
                       absorbed=message.absorbed_id, rule=message.rule, occurred_at=message.at)


# -- merges of two known leads -----------------------------------------------------------------


def _refused(state: LeadState | None, lead_id: str, merge_id: str) -> Rejected | None:
    """Why this lead cannot take part in the merge: it is not a known lead."""
    if state is None or state.stage == Stage.VISITOR:
        return Rejected(merge_id, "unknown_lead", f"merge {merge_id!r}: no known lead {lead_id!r}")
    return None


def _already_one(state: LeadState, other: str) -> bool:
    """``other`` was merged into this lead before: a replayed or re-sent merge, nothing to do."""
    return other == state.lead_id or other in state.aliases


def _merge_request(state: LeadState | None, message: MergeRequest) -> tuple[LeadState | None, list[Emitted]]:
    rejected = _refused(state, message.lead_id, message.merge_id)
    if rejected is not None or state is None:
        return state, [rejected] if rejected else []
    if _already_one(state, message.other):
        return state, []
    offer = MergeOffer(
        merge_id=message.merge_id, lead_id=message.other, other=state.lead_id,
        other_stage=state.stage, other_first_event_at=state.first_event_at,
        survivor=message.survivor, at=message.at, origin=message.origin,
    )
    return state, [Send(offer, note="merge_offer")]


def pick_survivor(
    a: tuple[str, str, float | None], b: tuple[str, str, float | None], explicit: str | None
) -> tuple[str, str]:
    """``(survivor id, rule)`` for two leads given as ``(id, stage, first_event_at)``."""
    if explicit is not None and explicit in (a[0], b[0]):
        return explicit, "explicit"
    rank_a, rank_b = STAGE_RANK.get(a[1], 0), STAGE_RANK.get(b[1], 0)
    if rank_a != rank_b:
        return (a[0] if rank_a > rank_b else b[0]), "most_advanced_stage"
    age_a = (a[2] if a[2] is not None else float("inf"), a[0])
    age_b = (b[2] if b[2] is not None else float("inf"), b[0])
    return (a[0] if age_a <= age_b else b[0]), "oldest"


def _merge_offer(state: LeadState | None, message: MergeOffer) -> tuple[LeadState | None, list[Emitted]]:
    rejected = _refused(state, message.lead_id, message.merge_id)
    if rejected is not None or state is None:
        return state, [rejected] if rejected else []
    if _already_one(state, message.other):
        return state, []
    survivor, rule = pick_survivor(
        (message.other, message.other_stage, message.other_first_event_at),
        (state.lead_id, state.stage, state.first_event_at),
        message.survivor,
    )
    if survivor == state.lead_id:
        retire = Retire(merge_id=message.merge_id, lead_id=message.other, into=state.lead_id,
                        rule=rule, at=message.at, origin=message.origin)
        return state, [Send(retire, note="merge_retire")]
    return _hand_over(state, survivor, rule, message.merge_id, message.at, message.origin)


def _retire(state: LeadState | None, message: Retire) -> tuple[LeadState | None, list[Emitted]]:
    rejected = _refused(state, message.lead_id, message.merge_id)
    if rejected is not None or state is None:
        return state, [rejected] if rejected else []
    if message.into == state.lead_id:
        return state, []
    return _hand_over(state, message.into, message.rule, message.merge_id, message.at,
                      message.origin)


def _hand_over(state: LeadState, survivor: str, rule: str, merge_id: str, at: float,
               origin: Mapping[str, Any] | None) -> tuple[LeadState, list[Emitted]]:
    absorb = Absorb(
        absorb_id=f"merge:{merge_id}", lead_id=survivor, absorbed_id=state.lead_id,
        absorbed=state.to_primitive(), rule=rule, at=at, merge_id=merge_id, origin=origin,
    )
    return (_retired(state.lead_id, survivor, state.generation),
            [Send(absorb, before_state=True, note="merged")])


# -- erasure -----------------------------------------------------------------------------------


def _erase(state: LeadState | None, message: Erase) -> tuple[LeadState | None, list[Emitted]]:
    if not message.cascade:
        return None, [Delete(message.lead_id, state.generation + 1)] if state is not None else []
    aliases = tuple(state.aliases) if state is not None else ()
    emitted: list[Emitted] = [
        Send(Erase(erase_id=message.erase_id, lead_id=alias, at=message.at, cascade=False),
             before_state=True, note="erase_alias")
        for alias in aliases
    ]
    emitted.append(Erased(erase_id=message.erase_id, lead_id=message.lead_id, aliases=aliases,
                          occurred_at=message.at))
    if state is not None:
        emitted.append(Delete(message.lead_id, state.generation + 1))
    return None, emitted


# -- retired ids -------------------------------------------------------------------------------


def forward(state: LeadState, message: Message) -> list[Emitted]:
    """What a retired id does with a message: pass it on to the lead it was merged into."""
    into = state.merged_into
    assert into is not None
    if isinstance(message, Tick):
        return []
    if isinstance(message, Erase):
        if not message.cascade:
            return [Delete(message.lead_id, state.generation + 1)]
        return [Send(dataclasses.replace(message, lead_id=into), note="forwarded")]
    if isinstance(message, Link):
        # linked before (a replay, or the same cookie with another contact: never merged again)
        note = "forwarded" if message.touchpoint.lead_id == into else "link_conflict"
        return [Send(message.touchpoint, note=note)]
    if isinstance(message, MergeRequest | MergeOffer) and message.other == into:
        return []  # merged into the other one already: a replayed or re-sent merge
    changes: dict[str, Any] = {"lead_id": into}
    if isinstance(message, MergeRequest | MergeOffer) and message.survivor == state.lead_id:
        changes["survivor"] = into
    if isinstance(message, Touchpoint | Feedback | Absorb | MergeRequest | MergeOffer | Retire):
        return [Send(dataclasses.replace(message, **changes), note="forwarded")]
    raise TypeError(f"cannot forward {type(message).__name__}")


def came_back(state: LeadState, message: Message) -> bool:
    """Whether ``message`` is the retired id's own history, handed over and forwarded round a
    cycle of retired ids back to it: conflicting merge commands (X into Y while Y into X) left
    no one to take it in."""
    return (isinstance(message, Absorb) and message.absorbed_id == state.lead_id
            and message.absorbed is not None)


def revive(state: LeadState, message: Absorb) -> tuple[LeadState, list[Emitted]]:
    """The id lives again as it was before it retired (what it handed over is all it had; what
    was forwarded meanwhile comes back to it), and the merge is reported as undone. The other
    id's history comes here too and is taken in, or it goes round to its own id and that one
    lives again: nothing is lost, and the forwarding never loops."""
    assert message.absorbed is not None
    revived = LeadState.from_primitive(dict(message.absorbed))
    revived.remember(message.absorb_id, message.at)
    return revived, [Rejected(
        message.absorb_id, "merge_conflict",
        f"merge {message.merge_id!r} handed {state.lead_id!r} to {state.merged_into!r}, which "
        f"another merge command had handed on (back to {state.lead_id!r} or further): "
        f"{state.lead_id!r} keeps its own history; send the merge again")]


def event_id_of(message: Message) -> str | None:
    """The touchpoint event id of a message ingest may send to a visitor, else ``None``."""
    if isinstance(message, Link):
        return message.touchpoint.event_id
    if isinstance(message, Touchpoint) and not message.has_contact:
        return message.event_id
    return None
