"""Shadow scoring: what a candidate model would do with the live traffic, beside the primary.

A shadow model set keeps a state of its own per lead and applies every message the lead gets, in
the same order, through the same ``apply``. Its transitions go to the shadow topic, never to the
CRM. It takes no identity decision of its own: whether an id is retired, who survives a merge
and where a retired id forwards are the primary's. A promotion keeps the merges made so far, so
this is what the candidate would see once promoted:

- a merge offer is applied with the primary's survivor as the explicit one;
- a hand-over (``Absorb``) carries each shadow's state of the retiring id beside the primary's
  (``Absorb.shadows``); one sent before the shadow ran carries only the primary's, which the
  shadow then takes in;
- what the shadow would send to other ids is dropped: the primary's messages carry the flow.

A lead the primary knows but the shadow has not seen yet (the shadow was configured later)
starts from a copy of the primary's state, as a promotion's re-check starts from it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import orjson

from leadstream.core.emitted import Emitted, Send
from leadstream.core.messages import Absorb, MergeOffer, MergeRequest, Message, Retire
from leadstream.core.state import LeadState

__all__ = ["shadow_input", "attach_states", "seed"]


def seed(primary: LeadState | None) -> LeadState | None:
    """A shadow's first state of a lead the primary already holds: a deep copy of it."""
    if primary is None:
        return None
    return LeadState.from_primitive(orjson.loads(orjson.dumps(primary.to_primitive())))


def shadow_input(message: Message, primary_emitted: Sequence[Emitted], name: str) -> Message | None:
    """What shadow ``name`` applies for ``message``, given what the primary made of it;
    ``None``: nothing (the primary took no merge decision, or the message only starts one)."""
    if isinstance(message, MergeOffer):
        survivor = _survivor(message.merge_id, primary_emitted)
        return None if survivor is None else dataclasses.replace(message, survivor=survivor)
    if isinstance(message, MergeRequest):
        return None  # changes no state: it only sends the offer, which the primary sends
    if isinstance(message, Absorb):
        shadows = message.shadows or {}
        return dataclasses.replace(message, absorbed=shadows.get(name, message.absorbed),
                                   shadows=None)
    return message


def _survivor(merge_id: str, emitted: Sequence[Emitted]) -> str | None:
    for item in emitted:
        if isinstance(item, Send):
            sent = item.message
            if isinstance(sent, Retire) and sent.merge_id == merge_id:
                return sent.into
            if isinstance(sent, Absorb) and sent.merge_id == merge_id:
                return sent.lead_id
    return None


def attach_states(primary_emitted: list[Emitted], shadow_emitted: Sequence[Emitted],
                  name: str) -> list[Emitted]:
    """The primary's events, each hand-over carrying shadow ``name``'s state of the retiring id
    (taken from the shadow's own hand-over with the same ``absorb_id``)."""
    absorbed = {item.message.absorb_id: item.message.absorbed for item in shadow_emitted
                if isinstance(item, Send) and isinstance(item.message, Absorb)}
    if not absorbed:
        return primary_emitted
    out: list[Emitted] = []
    for item in primary_emitted:
        if isinstance(item, Send) and isinstance(item.message, Absorb) \
                and item.message.absorb_id in absorbed:
            sent = item.message
            shadows = {**(sent.shadows or {}), name: absorbed[sent.absorb_id]}
            item = dataclasses.replace(item, message=dataclasses.replace(sent, shadows=shadows))
        out.append(item)
    return out
