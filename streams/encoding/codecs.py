"""Bytes in, bytes out: compact codecs for the hot paths (table values, internal topic)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import orjson

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
from leadstream.core.accounts import AccountState
from leadstream.core.state import LeadState

__all__ = [
    "encode_state",
    "decode_state",
    "retired_into",
    "encode_message",
    "decode_message",
    "shadow_key",
    "encode_touchpoint",
    "decode_touchpoint",
    "encode_account",
    "decode_account",
]


#: lead-table keys of erasure records: a one-way hash of an erased id and how often it was erased,
#: so a person who comes back starts a new transition-id space (core.emitted.transition_id).
#: Nothing else of an erased person is kept.
ERASED_PREFIX = b"\x00erased:"


def erased_key(key: bytes) -> bytes:
    return ERASED_PREFIX + hashlib.sha256(key).hexdigest()[:32].encode("ascii")


def shadow_key(model: str, key: bytes) -> bytes:
    """A shadow model's state of lead ``key`` in the shadow table (agents/leads/shadow.py)."""
    return model.encode() + b"\x00" + key


def encode_generation(generation: int) -> bytes:
    return str(generation).encode("ascii")


def decode_generation(raw: bytes | None) -> int:
    return int(raw) if raw else 0


def encode_state(state: LeadState) -> bytes:
    return orjson.dumps(state.to_primitive())


def decode_state(raw: bytes) -> LeadState:
    return LeadState.from_primitive(orjson.loads(raw))


_LIVE_END = b'"merged_into":null}'


def retired_into(raw: bytes) -> str | None:
    """Where a stored state forwards to (``merged_into``), or ``None`` for a live lead — which
    most are, so their state is not decoded for it: ``merged_into`` is the last field written."""
    if raw.endswith(_LIVE_END):
        return None
    into: str | None = orjson.loads(raw).get("merged_into")
    return into


def encode_touchpoint(touchpoint: Touchpoint) -> bytes:
    """The validated, keyed touchpoint as the ingest agent forwards it to the lead agent."""
    return orjson.dumps(_touchpoint_fields(touchpoint))


def _touchpoint_fields(touchpoint: Touchpoint) -> dict[str, Any]:
    fields = {
        "e": touchpoint.event_id,
        "t": touchpoint.type,
        "at": touchpoint.occurred_at,
        "l": touchpoint.lead_id,
        "c": touchpoint.has_contact,
        "p": touchpoint.payload,
        "cm": touchpoint.campaign,
        "ch": touchpoint.channel,
        "s": touchpoint.source,
    }
    if touchpoint.origin is not None:
        fields["src"] = touchpoint.origin
    return fields


def decode_touchpoint(raw: bytes) -> Touchpoint:
    return _touchpoint(orjson.loads(raw))


def _touchpoint(data: dict[str, Any]) -> Touchpoint:
    return Touchpoint(
        event_id=data["e"],
        type=data["t"],
        occurred_at=data["at"],
        lead_id=data["l"],
        has_contact=data["c"],
        payload=data["p"],
        campaign=data["cm"],
        channel=data["ch"],
        source=data["s"],
        origin=data.get("src"),
    )


def encode_message(message: Message) -> bytes:
    """Any message for the lead agent, tagged: touchpoints, CRM feedback and ticks share a topic
    so that everything about one lead is applied in one order."""
    if isinstance(message, Touchpoint):
        return encode_touchpoint(message)
    if isinstance(message, Feedback):
        return orjson.dumps(
            {"k": "f", "e": message.feedback_id, "l": message.lead_id, "v": message.verdict,
             "at": message.occurred_at, "r": message.reason, "o": message.owner, "b": message.bant,
             **({"a": message.amount} if message.amount is not None else {}),
             **_origin(message.origin)}
        )
    if isinstance(message, Tick):
        return orjson.dumps({"k": "x", "e": message.tick_id, "l": message.lead_id, "at": message.now})
    return orjson.dumps(_identity_fields(message))


def _identity_fields(message: Message) -> dict[str, Any]:
    if isinstance(message, Link):
        return {"k": "L", "l": message.lead_id, "tp": _touchpoint_fields(message.touchpoint)}
    if isinstance(message, Absorb):
        return {"k": "A", "e": message.absorb_id, "l": message.lead_id, "from": message.absorbed_id,
                "s": message.absorbed, "r": message.rule, "at": message.at, "m": message.merge_id,
                "tp": _touchpoint_fields(message.then) if message.then is not None else None,
                **({"sh": message.shadows} if message.shadows is not None else {}),
                **_origin(message.origin)}
    if isinstance(message, MergeRequest):
        return {"k": "M", "e": message.merge_id, "l": message.lead_id, "o": message.other,
                "sv": message.survivor, "at": message.at, **_origin(message.origin)}
    if isinstance(message, MergeOffer):
        return {"k": "O", "e": message.merge_id, "l": message.lead_id, "o": message.other,
                "os": message.other_stage, "of": message.other_first_event_at,
                "sv": message.survivor, "at": message.at, **_origin(message.origin)}
    if isinstance(message, Retire):
        return {"k": "R", "e": message.merge_id, "l": message.lead_id, "i": message.into,
                "r": message.rule, "at": message.at, **_origin(message.origin)}
    if isinstance(message, Erase):
        return {"k": "E", "e": message.erase_id, "l": message.lead_id, "at": message.at,
                "c": message.cascade}
    raise TypeError(f"cannot encode {type(message).__name__}")


def _origin(origin: Mapping[str, Any] | None) -> dict[str, Any]:
    return {"src": origin} if origin is not None else {}


def decode_message(raw: bytes) -> Message:
    data: dict[str, Any] = orjson.loads(raw)
    kind = data.get("k", "t")
    if kind == "t":
        return _touchpoint(data)
    if kind == "f":
        return Feedback(feedback_id=data["e"], lead_id=data["l"], verdict=data["v"],
                        occurred_at=data["at"], reason=data["r"], owner=data["o"], bant=data["b"],
                        amount=data.get("a"), origin=data.get("src"))
    if kind == "x":
        return Tick(tick_id=data["e"], lead_id=data["l"], now=data["at"])
    if kind == "L":
        return Link(lead_id=data["l"], touchpoint=_touchpoint(data["tp"]))
    if kind == "A":
        return Absorb(absorb_id=data["e"], lead_id=data["l"], absorbed_id=data["from"],
                      absorbed=data["s"], rule=data["r"], at=data["at"], merge_id=data["m"],
                      then=_touchpoint(data["tp"]) if data["tp"] is not None else None,
                      shadows=data.get("sh"), origin=data.get("src"))
    if kind == "M":
        return MergeRequest(merge_id=data["e"], lead_id=data["l"], other=data["o"],
                            survivor=data["sv"], at=data["at"], origin=data.get("src"))
    if kind == "O":
        return MergeOffer(merge_id=data["e"], lead_id=data["l"], other=data["o"],
                          other_stage=data["os"], other_first_event_at=data["of"],
                          survivor=data["sv"], at=data["at"], origin=data.get("src"))
    if kind == "R":
        return Retire(merge_id=data["e"], lead_id=data["l"], into=data["i"], rule=data["r"],
                      at=data["at"], origin=data.get("src"))
    if kind == "E":
        return Erase(erase_id=data["e"], lead_id=data["l"], at=data["at"], cascade=data["c"])
    raise ValueError(f"unknown internal message kind {kind!r}")


def encode_account(state: AccountState) -> bytes:
    return orjson.dumps(state.to_primitive())


def decode_account(raw: bytes) -> AccountState:
    return AccountState.from_primitive(orjson.loads(raw))
