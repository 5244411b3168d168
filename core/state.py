"""Per-lead state, and its lossless conversion to JSON-able primitives.

``apply`` takes ownership of the state it is given (it may update it in place, which keeps the hot
path free of copies) and returns the state to keep.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from typing import Any

from leadstream.core.stages import Stage

__all__ = ["LeadState", "DEDUPE_WINDOW", "TRAIL_LENGTH", "OUTBOX_LENGTH", "HISTORY_LENGTH"]

#: event ids remembered per lead. Replays after a crash are at most a commit interval long, and
#: producer re-sends are recent, so the most recent 1,024 ids per lead catch both.
DEDUPE_WINDOW = 1024
#: touchpoints kept for the handover's "recent trail".
TRAIL_LENGTH = 10
#: full transitions kept so a replayed trigger can re-publish them unchanged.
OUTBOX_LENGTH = 4
#: compact stage history kept per lead.
HISTORY_LENGTH = 64

STATE_VERSION = 1


def event_key(event_id: str) -> str:
    """A short fixed-size digest of an event id (72 bits) for the dedupe window."""
    digest = hashlib.blake2b(event_id.encode("utf-8"), digest_size=9).digest()
    return base64.b64encode(digest).decode("ascii")


@dataclass(slots=True)
class LeadState:
    lead_id: str
    stage: str = Stage.VISITOR.value
    components: dict[str, list[float]] = field(default_factory=dict)  # rule → [value, ref]
    rule_counts: dict[str, int] = field(default_factory=dict)
    profile: dict[str, Any] = field(default_factory=dict)
    profile_stamps: dict[str, list[Any]] = field(default_factory=dict)  # field → [t, event_id]
    flags: dict[str, bool] = field(default_factory=dict)  # e.g. unsubscribed
    seen: dict[str, None] = field(default_factory=dict)  # ordered set of event keys
    stage_entries: dict[str, int] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    outbox: list[dict[str, Any]] = field(default_factory=list)
    trail: list[list[Any]] = field(default_factory=list)  # [event_id, type, occurred_at]
    touchpoints: int = 0
    first_event_at: float | None = None
    last_event_at: float | None = None

    def has_seen(self, event_id: str) -> bool:
        return event_key(event_id) in self.seen

    def remember(self, event_id: str) -> None:
        self.seen[event_key(event_id)] = None
        while len(self.seen) > DEDUPE_WINDOW:
            del self.seen[next(iter(self.seen))]

    def to_primitive(self) -> dict[str, Any]:
        return {
            "v": STATE_VERSION,
            "lead_id": self.lead_id,
            "stage": self.stage,
            "components": self.components,
            "rule_counts": self.rule_counts,
            "profile": self.profile,
            "profile_stamps": self.profile_stamps,
            "flags": self.flags,
            "seen": list(self.seen),
            "stage_entries": self.stage_entries,
            "history": self.history,
            "outbox": self.outbox,
            "trail": self.trail,
            "touchpoints": self.touchpoints,
            "first_event_at": self.first_event_at,
            "last_event_at": self.last_event_at,
        }

    @classmethod
    def from_primitive(cls, data: dict[str, Any]) -> LeadState:
        version = data.get("v")
        if version != STATE_VERSION:
            raise ValueError(f"lead state version {version!r} is not {STATE_VERSION}")
        return cls(
            lead_id=data["lead_id"],
            stage=data["stage"],
            components=data["components"],
            rule_counts=data["rule_counts"],
            profile=data["profile"],
            profile_stamps=data["profile_stamps"],
            flags=data["flags"],
            seen=dict.fromkeys(data["seen"]),
            stage_entries=data["stage_entries"],
            history=data["history"],
            outbox=data["outbox"],
            trail=data["trail"],
            touchpoints=data["touchpoints"],
            first_event_at=data["first_event_at"],
            last_event_at=data["last_event_at"],
        )
