"""Per-lead state, and its lossless conversion to JSON-able primitives.

``apply`` takes ownership of the state it is given (it may update it in place, which keeps the hot
path free of copies) and returns the state to keep.
"""

from __future__ import annotations

import binascii
import hashlib
from dataclasses import dataclass, field, fields
from functools import lru_cache
from typing import Any

import orjson

from leadstream.core.stages import Stage
from leadstream.exceptions import StateVersionError

__all__ = [
    "LeadState",
    "DEDUPE_WINDOW",
    "TRAIL_LENGTH",
    "OUTBOX_LENGTH",
    "HISTORY_LENGTH",
    "CAP_DAYS_KEPT",
    "HAND_RAISES_KEPT",
    "event_key",
    "trail_order",
]

#: event ids remembered per lead. Replays after a crash are at most a commit interval long, and
#: producer re-sends are recent, so the most recent 1,024 ids per lead catch both.
DEDUPE_WINDOW = 1024
#: touchpoints kept for the handover's "recent trail".
TRAIL_LENGTH = 10
#: full emitted events kept so a replayed trigger can re-publish them unchanged.
OUTBOX_LENGTH = 4
#: compact stage history kept per lead.
HISTORY_LENGTH = 64
#: UTC days of daily-cap bookkeeping kept per rule (older late events are rejected upstream).
CAP_DAYS_KEPT = 62

#: explicit hand-raises (demo/callback requests) kept per lead, for decisions in event time
HAND_RAISES_KEPT = 8

#: 7: trail entries may carry source, campaign and channel (an older build could not read them)
STATE_VERSION = 7


def trail_order(entry: list[Any]) -> tuple[float, str]:
    """The order of ``LeadState.trail``: event time, ties by event id."""
    return entry[2], entry[0]


@lru_cache(maxsize=256)  # a message's id is looked up, then remembered: hashed once
def event_key(event_id: str) -> str:
    """A short fixed-size digest of an event id (72 bits) for the dedupe window (base64)."""
    digest = hashlib.blake2b(event_id.encode("utf-8"), digest_size=9).digest()
    return binascii.b2a_base64(digest, newline=False).decode("ascii")


@dataclass(slots=True)
class LeadState:
    lead_id: str
    stage: str = Stage.VISITOR
    # per model name: rule → [units, ref]; rule → counted touchpoints; rule → day → [[t, id]]
    components: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    rule_counts: dict[str, dict[str, int]] = field(default_factory=dict)
    capped: dict[str, dict[str, dict[str, list[list[Any]]]]] = field(default_factory=dict)
    profile: dict[str, Any] = field(default_factory=dict)
    profile_stamps: dict[str, list[Any]] = field(default_factory=dict)  # field → [t, event_id]
    bant: dict[str, Any] = field(default_factory=dict)
    bant_stamps: dict[str, list[Any]] = field(default_factory=dict)
    # BANT values a newer one replaced, as for the profile: field → [[t, event_id, value]]
    bant_history: dict[str, list[list[Any]]] = field(default_factory=dict)
    flags: dict[str, Any] = field(default_factory=dict)
    # profile values a newer one replaced: field → [[t, event_id, value]] (core/profile.py)
    profile_history: dict[str, list[list[Any]]] = field(default_factory=dict)
    # consent changes in event time: [[t, scope, status, event_id]] (core/consent.py)
    consent: list[list[Any]] = field(default_factory=list)
    # explicit hand-raises in event time: [[t, event_id]], the newest HAND_RAISES_KEPT
    hand_raises: list[list[Any]] = field(default_factory=list)
    # event time of the lead's earliest touchpoint that carried contact identity
    contact_since: float | None = None
    # first touch and lead-creating touch: kind → [t, event_id, type, source, campaign, channel]
    # (core/attribution.py)
    attribution: dict[str, list[Any]] = field(default_factory=dict)
    # event key → [occurred_at, {model: [rule ids it counted for]}] (None for feedback and other
    # non-touchpoints), oldest first: the dedupe window, and what each touchpoint added, so a
    # merge can take back an event both sides counted
    seen: dict[str, list[Any]] = field(default_factory=dict)
    stage_entries: dict[str, int] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    # the last emitted transitions, [trigger id, Transition.to_json()], oldest first: a replayed
    # trigger re-publishes exactly these
    outbox: list[list[str]] = field(default_factory=list)
    trail: list[list[Any]] = field(default_factory=list)  # [event_id, type, occurred_at]
    touchpoints: int = 0
    first_event_at: float | None = None
    last_event_at: float | None = None
    routing: dict[str, Any] = field(default_factory=dict)  # team, owner, rule, tried
    mql_since: float | None = None  # start of the running SLA window
    sla_breaches: int = 0
    models_ref: str | None = None  # the model set this lead was last evaluated with
    # primary-model components when the lead was last recycled: "new engagement" is measured
    # against them
    recycled_components: dict[str, list[float]] | None = None
    # identity: lead and visitor ids merged into this one (they forward here), and for a retired
    # id, the lead it was merged into (such a state keeps nothing else)
    aliases: list[str] = field(default_factory=list)
    merged_into: str | None = None
    # how often this id was erased before this state began (part of its transition ids)
    generation: int = 0
    # the view its last handover event carried, when its last lead_updated was (event time), and
    # when a change held back by the update interval is due (core/updates.py)
    published: list[Any] = field(default_factory=list)
    updated_at: float | None = None
    update_due: float | None = None
    # the account this lead is registered with (core/accounts.py)
    account: str | None = None

    def has_seen(self, event_id: str) -> bool:
        return event_key(event_id) in self.seen

    def remember(self, event_id: str, at: float, counted: dict[str, list[str]] | None = None) -> None:
        self.seen[event_key(event_id)] = [at, counted]
        self.trim_seen()

    def trim_seen(self) -> None:
        while len(self.seen) > DEDUPE_WINDOW:
            del self.seen[next(iter(self.seen))]

    def kept_for(self, trigger_id: str) -> list[str]:
        """The kept transitions (JSON text) that ``trigger_id`` caused, oldest first."""
        return [text for trigger, text in self.outbox if trigger == trigger_id]

    def uncount(self, event_id: str, model: str, rule: str) -> None:
        """The event no longer counts for ``rule`` (a daily cap let an earlier one take its place)."""
        record = self.seen.get(event_key(event_id))
        if record is not None and rule in (record[1] or {}).get(model, ()):
            record[1][model] = [r for r in record[1][model] if r != rule]

    @property
    def transitions(self) -> int:
        return sum(self.stage_entries.values())

    def to_primitive(self) -> dict[str, Any]:
        """The fields as JSON-able primitives (shallow: the containers are the state's own)."""
        data: dict[str, Any] = {"v": STATE_VERSION}
        for name in _DENSE_FIELDS:
            data[name] = getattr(self, name)
        for name in _SPARSE_FIELDS:  # most leads have none of these: their defaults stay unwritten
            value = getattr(self, name)
            if value:
                data[name] = value
        return data

    @classmethod
    def from_primitive(cls, data: dict[str, Any]) -> LeadState:
        version = data.get("v")
        if version not in (STATE_VERSION, 6, 5, 4, 3, 2):
            raise StateVersionError(
                f"lead state version {version!r} is not {STATE_VERSION} (or 6, 5, 4, 3 or 2)")
        values = {name: data[name] for name in _FIELD_NAMES if name in data}
        if version not in (STATE_VERSION, 6):
            _upgrade_to_6(values, data)
        if version not in (STATE_VERSION, 6, 5):  # up to 4, kept transitions were dicts
            values["outbox"] = [
                [kept["trigger_event_id"], orjson.dumps(kept).decode()]
                for kept in data.get("outbox", ())
            ]
        # version 4 stores the seen window as the dict it is; older ones as lists
        if version == 3:  # [key, occurred_at, counted]
            values["seen"] = {entry[0]: [entry[1], entry[2]] for entry in data.get("seen", ())}
        elif version == 2:  # plain keys: what each event counted is unknown
            values["seen"] = {key: [None, None] for key in data.get("seen", ())}
        return cls(**values)


def _upgrade_to_6(values: dict[str, Any], data: dict[str, Any]) -> None:
    """Up to 5 an opt-out was a permanent flag with no time: it becomes a marketing opt-out from
    the lead's first touchpoint on; a lead with contact identity has had it since then."""
    flags = dict(data.get("flags") or {})
    if flags.pop("suppressed", False):
        values["consent"] = [[data.get("first_event_at") or 0.0, "marketing", "opted_out",
                              "(state version 5)"]]
    values["flags"] = flags
    if data.get("stage", Stage.VISITOR) != Stage.VISITOR:
        values["contact_since"] = data.get("first_event_at")


# dataclasses.fields() is slow enough to show in a profile of the lead handler
_FIELD_NAMES = tuple(f.name for f in fields(LeadState))
#: fields whose empty default most states keep: written only when set
_SPARSE_FIELDS = ("profile_history", "bant_history", "consent", "hand_raises", "generation",
                  "published", "updated_at", "update_due", "attribution", "account")
_DENSE_FIELDS = tuple(name for name in _FIELD_NAMES if name not in _SPARSE_FIELDS)
