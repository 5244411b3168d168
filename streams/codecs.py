"""Bytes in, bytes out: compact codecs for the hot paths (table values, internal topic)."""

from __future__ import annotations

from typing import Any

import orjson

from leadstream.core.messages import Touchpoint
from leadstream.core.state import LeadState

__all__ = ["encode_state", "decode_state", "encode_touchpoint", "decode_touchpoint"]


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
    data: dict[str, Any] = orjson.loads(raw)
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
