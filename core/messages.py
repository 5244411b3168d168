"""What the core consumes: already validated, already keyed messages.

The shell (``schemas/`` + ``agents/``) turns wire bytes into these; the core never parses JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Touchpoint", "Feedback", "Tick", "Message", "VERDICTS"]

VERDICTS = ("accepted", "rejected", "qualified", "won", "lost", "disqualified")


@dataclass(frozen=True, slots=True)
class Touchpoint:
    """One interaction of a person with marketing, in event time."""

    event_id: str
    type: str
    occurred_at: float  # seconds since the epoch, UTC
    lead_id: str  # canonical id, see core.identity
    has_contact: bool  # carries lead_id, email or crm_id (not only an anonymous id)
    payload: Mapping[str, Any] = field(default_factory=dict)
    campaign: str | None = None
    channel: str | None = None
    source: str | None = None

    def field_value(self, name: str) -> Any:
        """A matchable attribute: envelope fields first, then the payload."""
        if name in ("type", "campaign", "channel", "source"):
            return getattr(self, name)
        return self.payload.get(name)


@dataclass(frozen=True, slots=True)
class Feedback:
    """Sales' verdict on a lead, from the CRM (``lead-feedback``)."""

    feedback_id: str
    lead_id: str
    verdict: str  # one of VERDICTS
    occurred_at: float
    reason: str | None = None  # a short code, e.g. no_budget
    owner: str | None = None  # the owner who works the lead, if the CRM says
    bant: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Tick:
    """Time passes: SLA checks, going cold, model-change re-evaluation. ``tick_id`` dedupes."""

    tick_id: str
    lead_id: str
    now: float


Message = Touchpoint | Feedback | Tick
