"""What the core consumes: already validated, already keyed messages.

The shell (``schemas/`` + ``agents/``) turns wire bytes into these; the core never parses JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from leadstream.core.frozen import quick_init

__all__ = [
    "Touchpoint",
    "Feedback",
    "Tick",
    "Link",
    "Absorb",
    "MergeRequest",
    "MergeOffer",
    "Retire",
    "Erase",
    "Message",
    "VERDICTS",
]

VERDICTS = ("accepted", "rejected", "qualified", "won", "lost", "disqualified", "reinstated")


@quick_init
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
    # the input record (as Feedback.origin), carried only by a touchpoint old enough to be
    # refused as too late: that refusal then sends the DLQ the producer's bytes
    origin: Mapping[str, Any] | None = None

    def field_value(self, name: str) -> Any:
        """A matchable attribute: envelope fields first, then the payload."""
        if name in ("type", "campaign", "channel", "source"):
            return getattr(self, name)
        return self.payload.get(name)


@quick_init
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
    amount: float | None = None  # a won deal's value (reports: revenue per campaign)
    # the input record it came from (topic, partition, offset, timestamp, key, value, headers),
    # opaque to the core: a refusal sends it to the DLQ as the producer sent it
    origin: Mapping[str, Any] | None = None


@quick_init
@dataclass(frozen=True, slots=True)
class Tick:
    """Time passes: SLA checks, going cold, model-change re-evaluation. ``tick_id`` dedupes."""

    tick_id: str
    lead_id: str
    now: float


# -- identity (README, "Identity") -------------------------------------------------------------------
# Every message is addressed to ``lead_id``: the shell sends it keyed by that id, so everything
# about one id is applied in one order on one partition. Merges cross partitions as messages.


@quick_init
@dataclass(frozen=True, slots=True)
class Link:
    """A touchpoint naming a visitor *and* a contact. It goes to the visitor first (``lead_id`` is
    the visitor's ``anon-…`` id), which hands its history to the contact's lead exactly once."""

    lead_id: str  # the visitor
    touchpoint: Touchpoint  # its lead_id is the contact's canonical id


@quick_init
@dataclass(frozen=True, slots=True)
class Absorb:
    """A retiring lead or visitor hands its state to the survivor, then forwards there."""

    absorb_id: str  # dedupe at the survivor
    lead_id: str  # the survivor
    absorbed_id: str
    absorbed: Mapping[str, Any] | None  # LeadState.to_primitive(); None: nothing to take in
    rule: str  # why this survivor: identified_visitor, explicit, most_advanced_stage, oldest
    at: float
    merge_id: str | None = None  # the merge command's id (None for a visitor link)
    then: Touchpoint | None = None  # the linking touchpoint, applied after the history
    # each shadow model's state of the retiring id, by model name (core/shadow.py)
    shadows: Mapping[str, Mapping[str, Any] | None] | None = None
    origin: Mapping[str, Any] | None = None  # the merge command's input record


@quick_init
@dataclass(frozen=True, slots=True)
class MergeRequest:
    """Operator command: merge two known leads. Visits the first, then the second decides."""

    merge_id: str
    lead_id: str
    other: str
    survivor: str | None  # an explicit survivor (one of the two), or None for the rule
    at: float
    origin: Mapping[str, Any] | None = None  # the command's input record (as Feedback.origin)


@quick_init
@dataclass(frozen=True, slots=True)
class MergeOffer:
    """The first lead's side of a merge, at the second lead, which picks the survivor."""

    merge_id: str
    lead_id: str
    other: str
    other_stage: str
    other_first_event_at: float | None
    survivor: str | None
    at: float
    origin: Mapping[str, Any] | None = None  # the merge command's input record


@quick_init
@dataclass(frozen=True, slots=True)
class Retire:
    """The survivor was chosen and it is not this lead: hand over the state and forward."""

    merge_id: str
    lead_id: str
    into: str
    rule: str
    at: float
    origin: Mapping[str, Any] | None = None  # the merge command's input record


@quick_init
@dataclass(frozen=True, slots=True)
class Erase:
    """GDPR erasure. ``cascade``: the lead's own erase (also erases its aliases); without it, one
    alias is removed on behalf of the lead it was merged into."""

    erase_id: str
    lead_id: str
    at: float
    cascade: bool = True


Message = Touchpoint | Feedback | Tick | Link | Absorb | MergeRequest | MergeOffer | Retire | Erase
