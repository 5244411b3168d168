"""What the core emits. Agents turn these into Kafka records (or metrics)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, fields
from typing import Any

import orjson

from leadstream.core.frozen import quick_init

__all__ = [
    "Counted",
    "Duplicate",
    "Rejected",
    "Transition",
    "Send",
    "Delete",
    "LeadsMerged",
    "Erased",
    "ConsentChanged",
    "NurtureSignal",
    "Emitted",
    "transition_id",
    "consent_change_id",
    "nurture_signal_id",
    "kept_for_replay",
]


def transition_id(lead_id: str, label: str, entry: int, generation: int = 0) -> str:
    """Deterministic id: the ``entry``-th time ``lead_id`` entered stage ``label`` (or breached).

    It names *what happened*, not which record caused it, so the same input log yields the same
    ids whatever the crash/replay history, and CRM consumers can upsert on it. ``generation``
    counts the erasures of the id before: a person who comes back after an erasure starts a new
    id space, so no id ever names two different transitions.
    """
    suffix = f"\x1f{generation}" if generation else ""  # ids from before erasures stay as they were
    raw = f"{lead_id}\x1f{label}\x1f{entry}{suffix}".encode()
    return hashlib.sha256(raw).hexdigest()[:32]


@quick_init
@dataclass(frozen=True, slots=True)
class Counted:
    """A touchpoint was applied; ``rules`` are the primary model's rule ids that scored it."""

    event_id: str
    type: str
    rules: tuple[str, ...]


@quick_init
@dataclass(frozen=True, slots=True)
class Duplicate:
    """A message whose id the lead has already applied; nothing changed."""

    event_id: str
    type: str


@quick_init
@dataclass(frozen=True, slots=True)
class Rejected:
    """A message the core refuses (e.g. an impossible CRM verdict); it belongs in the DLQ."""

    event_id: str
    kind: str  # bounded code: unknown_lead, impossible_verdict
    reason: str


@quick_init
@dataclass(frozen=True, slots=True)
class Transition:
    """A lifecycle stage transition or an SLA breach: the body of one handover event."""

    transition_id: str
    lead_id: str
    sequence: int  # 1-based count of this lead's transitions: the current stage has the highest
    kind: str  # stage_transition | sla_breach
    from_stage: str
    to_stage: str
    reason: str
    occurred_at: float
    trigger_event_id: str
    trigger_type: str
    score: float
    grade: str
    fit_points: float
    matrix: str
    temperature: str
    model_name: str
    model_version: str
    contributors: tuple[tuple[str, float, int], ...]  # (rule_id, points now, events counted)
    trail: tuple[tuple[str, str, float], ...]  # (event_id, type, occurred_at), oldest first
    profile: dict[str, Any]
    bant: dict[str, Any]
    routing: dict[str, Any]  # team, owner, rule (and previous_owner on an SLA breach)
    scores: dict[str, float] = field(default_factory=dict)  # every model's score, by name
    detail: str | None = None  # e.g. the CRM's rejection reason code
    bant_status: str = "open"  # qualified | held_back | open, when the event was made
    # first_touch, lead_created, mql_touch: [t, event_id, type, source, campaign, channel] or
    # None; source_type (core/attribution.py)
    attribution: dict[str, Any] = field(default_factory=dict)
    account_id: str | None = None  # core/accounts.py

    @classmethod
    def from_primitive(cls, data: dict[str, Any]) -> Transition:
        return cls(
            **{
                **data,
                "contributors": tuple(tuple(c) for c in data["contributors"]),
                "trail": tuple(tuple(t) for t in data["trail"]),
            }
        )

    def to_json(self) -> str:
        """The transition as JSON text, as the lead state keeps it (``LeadState.outbox``).

        Text, not a dict: a kept transition is read back only when its trigger is replayed, while
        the state around it is decoded and encoded for nearly every message; as one string it
        costs the state codec a copy instead of a parse and a dump of ~40 nested values. orjson
        (pure computation, like hashlib here) because the stdlib encoder took twice as long."""
        return orjson.dumps({name: getattr(self, name) for name in _TRANSITION_FIELDS}).decode()

    @classmethod
    def from_json(cls, text: str) -> Transition:
        return cls.from_primitive(orjson.loads(text))


_TRANSITION_FIELDS = tuple(f.name for f in fields(Transition))


@quick_init
@dataclass(frozen=True, slots=True)
class Send:
    """Deliver ``message`` to the lead it is addressed to (another key, often another partition).

    ``before_state`` means the state written for this message must not be stored before the
    message is durably sent: a retiring lead hands over its state first, so a crash in between
    replays the hand-over (the survivor dedupes it) instead of losing it.
    """

    message: Any  # core.messages.Message (Any: messages import nothing from here)
    before_state: bool = False
    note: str = "forwarded"  # bounded code for metrics: linked, merged, forwarded, link_conflict …


@quick_init
@dataclass(frozen=True, slots=True)
class Delete:
    """Remove this lead's key from every table (GDPR erasure). ``generation`` is the erasure
    count a new state for the same id starts with (the shell keeps it, see ``apply``)."""

    lead_id: str
    generation: int = 1


@quick_init
@dataclass(frozen=True, slots=True)
class LeadsMerged:
    """Published on the handover topic: ``absorbed`` now lives on as ``survivor``."""

    merge_id: str
    survivor: str
    absorbed: str
    rule: str  # explicit | most_advanced_stage | oldest
    occurred_at: float


@quick_init
@dataclass(frozen=True, slots=True)
class Erased:
    """Published on the handover topic: the lead and these aliases are gone from every table."""

    erase_id: str
    lead_id: str
    aliases: tuple[str, ...]
    occurred_at: float


@quick_init
@dataclass(frozen=True, slots=True)
class ConsentChanged:
    """Published on the handover topic: a known lead's consent for a scope, as of an event time
    (``email``/``bounced``: a hard bounce, the address is no longer a contact point)."""

    change_id: str
    lead_id: str
    scope: str
    status: str
    occurred_at: float
    event_id: str  # the touchpoint that said it


def consent_change_id(lead_id: str, entry: tuple[float, str, str, str], generation: int = 0) -> str:
    """Deterministic id of one consent entry (time, scope, status, event id) of a lead: it names
    the statement, not the message that carried it to the lead."""
    at, scope, status, event_id = entry
    raw = f"{lead_id}\x1fconsent\x1f{scope}\x1f{status}\x1f{event_id}\x1f{at!r}\x1f{generation}"
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


@quick_init
@dataclass(frozen=True, slots=True)
class NurtureSignal:
    """For marketing automation (the nurture topic): a lead to enrol in a nurture track.

    ``signal``: ``recycled`` (back to nurturing: rejected by sales, or lost and cooled off),
    ``went_cold`` (an MQL or SAL without touchpoints too long, recycled) or ``stalled`` (an MGL
    without progress for ``lifecycle.stall_after_days``)."""

    signal_id: str
    lead_id: str
    signal: str
    reason: str
    stage: str
    occurred_at: float
    trigger_event_id: str
    score: float
    grade: str


def nurture_signal_id(lead_id: str, label: str, entry: int, generation: int = 0) -> str:
    """Deterministic id: the ``entry``-th ``label`` signal of the lead (a recycling names its
    transition's entry into ``recycled``; a stall, the MGL entry it stalled in)."""
    return transition_id(lead_id, f"nurture\x1f{label}", entry, generation)


Emitted = (Counted | Duplicate | Rejected | Transition | Send | Delete | LeadsMerged | Erased
           | ConsentChanged | NurtureSignal)


def kept_for_replay(item: Transition | NurtureSignal) -> bool:
    """Whether a replayed trigger publishes ``item`` again from the lead's state: a transition
    kept in its outbox, or a recycling's signal derived from one. A ``lead_changed`` update and a
    ``stalled`` signal are kept nowhere (a snapshot per update would bloat every state), so the
    shell sends them before it stores the state they were decided on (agents/leads/plan.py)."""
    if isinstance(item, Transition):
        return item.reason != "lead_changed"
    return item.signal != "stalled"
