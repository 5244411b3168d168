"""Bytes in, bytes out: compact codecs for the hot paths (table values, internal topic)."""

from __future__ import annotations

from typing import Any

import orjson

from leadstream.core.messages import Feedback, Message, Tick, Touchpoint
from leadstream.core.state import LeadState

__all__ = [
    "encode_state",
    "decode_state",
    "encode_message",
    "decode_message",
    "encode_touchpoint",
    "decode_touchpoint",
]


def encode_state(state: LeadState) -> bytes:
    return orjson.dumps(state.to_primitive())


def decode_state(raw: bytes) -> LeadState:
    return LeadState.from_primitive(orjson.loads(raw))


def encode_touchpoint(touchpoint: Touchpoint) -> bytes:
    """The validated, keyed touchpoint as the ingest agent forwards it to the lead agent."""
    return orjson.dumps(
        {
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
    )


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
    )


def encode_message(message: Message) -> bytes:
    """Any message for the lead agent, tagged: touchpoints, CRM feedback and ticks share a topic
    so that everything about one lead is applied in one order."""
    if isinstance(message, Touchpoint):
        return encode_touchpoint(message)
    if isinstance(message, Feedback):
        return orjson.dumps(
            {"k": "f", "e": message.feedback_id, "l": message.lead_id, "v": message.verdict,
             "at": message.occurred_at, "r": message.reason, "o": message.owner, "b": message.bant}
        )
    return orjson.dumps({"k": "x", "e": message.tick_id, "l": message.lead_id, "at": message.now})


def decode_message(raw: bytes) -> Message:
    data: dict[str, Any] = orjson.loads(raw)
    kind = data.get("k", "t")
    if kind == "t":
        return _touchpoint(data)
    if kind == "f":
        return Feedback(feedback_id=data["e"], lead_id=data["l"], verdict=data["v"],
                        occurred_at=data["at"], reason=data["r"], owner=data["o"], bant=data["b"])
    if kind == "x":
        return Tick(tick_id=data["e"], lead_id=data["l"], now=data["at"])
    raise ValueError(f"unknown internal message kind {kind!r}")
