"""A ``lead-handover`` record as the connector needs it: one typed event per ``kind``.

Reading is tolerant of fields it does not know (a newer worker may add some) and strict about
the ones it stores: a record without them is refused with the reason (the runner keeps it in the
``connector_rejects`` table; it never stops the stream).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from leadstream.exceptions import LeadstreamError

__all__ = [
    "ConsentEvent",
    "EngagementEvent",
    "ErasureEvent",
    "HandoverEvent",
    "HandoverRecordError",
    "LeadEvent",
    "MergeEvent",
    "id_hash",
    "parse_handover",
]

JSON = dict[str, Any]


class HandoverRecordError(LeadstreamError):
    """A handover record the connector cannot store; ``reason`` says why."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(f"{kind}: {reason}")
        self.kind = kind
        self.reason = reason


@dataclass(frozen=True, slots=True)
class LeadEvent:
    """``stage_transition``, ``sla_breach`` or ``lead_updated``: one transitions row, and the
    lead's row when its ``sequence`` is the highest seen."""

    transition_id: str
    lead_id: str
    sequence: int
    kind: str
    from_stage: str
    to_stage: str
    reason: str
    detail: str | None
    occurred_at: datetime
    trigger_event_id: str | None
    trigger_type: str | None
    score: float | None
    grade: str | None
    fit_points: float | None
    matrix: str | None
    temperature: str | None
    bant_status: str | None
    team: str | None
    owner: str | None
    profile: JSON
    bant: JSON
    attribution: JSON | None
    account_id: str | None
    model_name: str | None
    model_version: str | None

    @property
    def event_id(self) -> str:
        return self.transition_id

    @property
    def source_type(self) -> str | None:
        return None if self.attribution is None else self.attribution.get("source_type")


@dataclass(frozen=True, slots=True)
class ConsentEvent:
    change_id: str
    lead_id: str
    scope: str
    status: str
    occurred_at: datetime

    @property
    def event_id(self) -> str:
        return self.change_id


@dataclass(frozen=True, slots=True)
class MergeEvent:
    merge_id: str
    survivor: str
    absorbed: str
    rule: str
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class ErasureEvent:
    erase_id: str
    lead_id: str
    aliases: tuple[str, ...]
    occurred_at: datetime

    @property
    def lead_ids(self) -> tuple[str, ...]:
        return (self.lead_id, *self.aliases)


@dataclass(frozen=True, slots=True)
class EngagedContact:
    lead_id: str
    score: float | None
    grade: str | None
    stage: str | None
    role: str | None


@dataclass(frozen=True, slots=True)
class EngagementEvent:
    engagement_id: str
    account_id: str
    entry: int
    engagement: float
    best_grade: str | None
    occurred_at: datetime
    contacts: tuple[EngagedContact, ...]


HandoverEvent = LeadEvent | ConsentEvent | MergeEvent | ErasureEvent | EngagementEvent

_LEAD_KINDS = frozenset({"stage_transition", "sla_breach", "lead_updated"})


def id_hash(lead_id: str) -> str:
    """What the connector keeps of an erased id: a one-way hash, never the id."""
    return hashlib.sha256(lead_id.encode("utf-8")).hexdigest()


def parse_handover(raw: bytes | None) -> HandoverEvent:
    if raw is None:
        raise HandoverRecordError("no_value", "the record has no value")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise HandoverRecordError("invalid_json", str(exc)) from None
    if not isinstance(data, dict):
        raise HandoverRecordError("not_an_object", "a handover record must be a JSON object")
    kind = data.get("kind")
    try:
        if kind in _LEAD_KINDS:
            return _lead(data)
        if kind == "consent_changed":
            return ConsentEvent(_str(data, "change_id"), _str(data, "lead_id"), _str(data, "scope"),
                                _str(data, "status"), _time(data, "occurred_at"))
        if kind == "leads_merged":
            return MergeEvent(_str(data, "merge_id"), _str(data, "survivor"), _str(data, "absorbed"),
                              _str(data, "rule"), _time(data, "occurred_at"))
        if kind == "erased":
            aliases = data.get("aliases")
            if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
                raise HandoverRecordError("invalid_field", "field 'aliases': a list of lead ids")
            return ErasureEvent(_str(data, "erase_id"), _str(data, "lead_id"), tuple(aliases),
                                _time(data, "occurred_at"))
        if kind == "account_engaged":
            return _engagement(data)
    except (TypeError, ValueError, KeyError) as exc:
        raise HandoverRecordError("invalid_field", str(exc)) from None
    raise HandoverRecordError("unknown_kind", f"kind {kind!r} is not one the connector knows")


def _lead(data: JSON) -> LeadEvent:
    trigger = _obj(data, "trigger", required=False) or {}
    routing = _obj(data, "routing", required=False) or {}
    model = _obj(data, "model", required=False) or {}
    sequence = data.get("sequence")
    if not isinstance(sequence, int) or isinstance(sequence, bool) or sequence < 1:
        raise HandoverRecordError("invalid_field", "field 'sequence': a positive integer")
    return LeadEvent(
        transition_id=_str(data, "transition_id"),
        lead_id=_str(data, "lead_id"),
        sequence=sequence,
        kind=_str(data, "kind"),
        from_stage=_str(data, "from_stage"),
        to_stage=_str(data, "to_stage"),
        reason=_str(data, "reason"),
        detail=_opt_str(data, "detail"),
        occurred_at=_time(data, "occurred_at"),
        trigger_event_id=_opt_str(trigger, "event_id"),
        trigger_type=_opt_str(trigger, "type"),
        score=_opt_num(data, "score"),
        grade=_opt_str(data, "grade"),
        fit_points=_opt_num(data, "fit_points"),
        matrix=_opt_str(data, "matrix"),
        temperature=_opt_str(data, "temperature"),
        bant_status=_opt_str(data, "bant_status"),
        team=_opt_str(routing, "team"),
        owner=_opt_str(routing, "owner"),
        profile=_obj(data, "profile", required=False) or {},
        bant=_obj(data, "bant", required=False) or {},
        attribution=_obj(data, "attribution", required=False),
        account_id=_opt_str(data, "account_id"),
        model_name=_opt_str(model, "name"),
        model_version=_opt_str(model, "version"),
    )


def _engagement(data: JSON) -> EngagementEvent:
    contacts = data.get("contacts")
    if not isinstance(contacts, list):
        raise HandoverRecordError("invalid_field", "field 'contacts': a list")
    entry = data.get("entry")
    if not isinstance(entry, int) or isinstance(entry, bool):
        raise HandoverRecordError("invalid_field", "field 'entry': an integer")
    return EngagementEvent(
        engagement_id=_str(data, "engagement_id"),
        account_id=_str(data, "account_id"),
        entry=entry,
        engagement=float(_opt_num(data, "engagement") or 0.0),
        best_grade=_opt_str(data, "best_grade"),
        occurred_at=_time(data, "occurred_at"),
        contacts=tuple(EngagedContact(_str(c, "lead_id"), _opt_num(c, "score"), _opt_str(c, "grade"),
                                      _opt_str(c, "stage"), _opt_str(c, "role"))
                       for c in contacts if isinstance(c, dict)),
    )


def _str(data: JSON, name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value:
        raise HandoverRecordError("invalid_field", f"field {name!r}: a non-empty string is required")
    return value


def _opt_str(data: JSON, name: str) -> str | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise HandoverRecordError("invalid_field", f"field {name!r}: a string or null")
    return value


def _opt_num(data: JSON, name: str) -> float | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise HandoverRecordError("invalid_field", f"field {name!r}: a number or null")
    return float(value)


def _obj(data: JSON, name: str, *, required: bool) -> JSON | None:
    value = data.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, dict):
        raise HandoverRecordError("invalid_field", f"field {name!r}: an object")
    return value


def _time(data: JSON, name: str) -> datetime:
    value = _str(data, name)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise HandoverRecordError("invalid_field", f"field {name!r}: an ISO 8601 time") from None
    if parsed.tzinfo is None:
        raise HandoverRecordError("invalid_field", f"field {name!r}: a time with its UTC offset")
    return parsed.astimezone(UTC)
