"""Per-lead state, and its lossless conversion to JSON-able primitives.

``apply`` takes ownership of the state it is given (it may update it in place, which keeps the hot
path free of copies) and returns the state to keep.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field, fields
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
    "event_key",
    "pack_counted",
    "unpack_counted",
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

STATE_VERSION = 6


def event_key(event_id: str) -> str:
    """A short fixed-size digest of an event id (72 bits) for the dedupe window."""
    digest = hashlib.blake2b(event_id.encode("utf-8"), digest_size=9).digest()
    return base64.b64encode(digest).decode("ascii")


def pack_counted(counted: dict[str, list[str]] | None) -> str | None:
    """What a touchpoint counted for, as the dedupe window keeps it: ``"model:rule,rule;model:rule"``.

    ``None`` is an event that is not a touchpoint, ``""`` a touchpoint that counted for nothing.
    One string rather than ``{model: [rules]}``: the window holds up to ``DEDUPE_WINDOW`` entries
    per lead and is encoded with every state write, and its small dicts and lists were half of the
    encoding time of a cache-cold state (benchmarks/README.md). Model names and rule ids cannot
    hold ``:``, ``,`` or ``;`` (``core.model`` validates them).
    """
    if counted is None:
        return None
    return ";".join(f"{model}:{','.join(rules)}" for model, rules in counted.items() if rules)


def unpack_counted(packed: str | None) -> dict[str, list[str]] | None:
    """The inverse of :func:`pack_counted` (models that counted nothing are left out)."""
    if packed is None:
        return None
    counted: dict[str, list[str]] = {}
    if packed:
        for part in packed.split(";"):
            model, _, rules = part.partition(":")
            counted[model] = rules.split(",")
    return counted


@dataclass(slots=True)
class LeadState:
    lead_id: str
    stage: str = Stage.VISITOR.value
    # per model name: rule → [units, ref]; rule → counted touchpoints; rule → day → [[t, id]]
    components: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    rule_counts: dict[str, dict[str, int]] = field(default_factory=dict)
    capped: dict[str, dict[str, dict[str, list[list[Any]]]]] = field(default_factory=dict)
    profile: dict[str, Any] = field(default_factory=dict)
    profile_stamps: dict[str, list[Any]] = field(default_factory=dict)  # field → [t, event_id]
    bant: dict[str, Any] = field(default_factory=dict)
    bant_stamps: dict[str, list[Any]] = field(default_factory=dict)
    flags: dict[str, Any] = field(default_factory=dict)  # e.g. suppressed
    # event key → [occurred_at, the rule ids it counted for, packed: see pack_counted] (None for
    # feedback and other non-touchpoints), oldest first: the dedupe window, and what each
    # touchpoint added, so a merge can take back an event both sides counted
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

    def has_seen(self, event_id: str) -> bool:
        return event_key(event_id) in self.seen

    def remember(self, event_id: str, at: float, counted: dict[str, list[str]] | None = None) -> None:
        self.seen[event_key(event_id)] = [at, pack_counted(counted)]
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
        if record is not None:
            drop_counted(record, model, rule)

    def counted_for(self, key: str) -> dict[str, list[str]] | None:
        """What the remembered event ``key`` (an :func:`event_key`) counted for."""
        return unpack_counted(self.seen[key][1])

    @property
    def transitions(self) -> int:
        return sum(self.stage_entries.values())

    def to_primitive(self) -> dict[str, Any]:
        """The fields as JSON-able primitives (shallow: the containers are the state's own)."""
        data: dict[str, Any] = {"v": STATE_VERSION}
        for name in _FIELD_NAMES:
            data[name] = getattr(self, name)
        return data

    @classmethod
    def from_primitive(cls, data: dict[str, Any]) -> LeadState:
        version = data.get("v")
        if version not in _READABLE:
            raise StateVersionError(
                f"lead state version {version!r} is not {STATE_VERSION} (or 5, 4, 3 or 2)")
        values = {name: data[name] for name in _FIELD_NAMES if name in data}
        if version == STATE_VERSION:
            return cls(**values)
        if version <= 4:  # kept transitions were dicts
            values["outbox"] = [
                [kept["trigger_event_id"], orjson.dumps(kept).decode()]
                for kept in data.get("outbox", ())
            ]
        # up to 5 what an event counted for was a dict; 3 kept the window as a list of
        # [key, occurred_at, counted]; 2 as plain keys (what each event counted is unknown)
        if version == 2:
            values["seen"] = {key: [None, None] for key in data.get("seen", ())}
        else:
            entries = data.get("seen", ())
            pairs = ((e[0], e[1], e[2]) for e in entries) if version == 3 else \
                ((key, e[0], e[1]) for key, e in entries.items())
            values["seen"] = {key: [at, pack_counted(counted)] for key, at, counted in pairs}
        return cls(**values)


def drop_counted(record: list[Any], model: str, rule: str) -> None:
    """The dedupe record ``[at, packed]`` no longer counts for ``rule`` of ``model``."""
    counted = unpack_counted(record[1])
    if counted is not None and rule in counted.get(model, ()):
        counted[model] = [r for r in counted[model] if r != rule]
        record[1] = pack_counted(counted)


_READABLE = (STATE_VERSION, 5, 4, 3, 2)
# dataclasses.fields() is slow enough to show in a profile of the lead handler
_FIELD_NAMES = tuple(f.name for f in fields(LeadState))
