"""Mappers between the wire (``schemas``) and the core (``core``)."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, get_args

import orjson

from leadstream.core.emitted import ConsentChanged, Erased, LeadsMerged, NurtureSignal, Transition
from leadstream.core.lifecycle import snapshot
from leadstream.core.model import ModelSet
from leadstream.core.scoring import contributions
from leadstream.core import attribution, consent
from leadstream.core.bant import verdict as bant_verdict
from leadstream.core.state import LeadState
from leadstream.core.accounts import AccountEngaged, AccountState, account_of, evaluate
from leadstream.core.stages import Stage
from leadstream.core.identity import canonical_lead_id, visitor_id
from leadstream.core.messages import Erase, Feedback, Link, MergeRequest, Touchpoint
from leadstream.schemas.commands import EraseCommand, MergeCommand
from leadstream.schemas.nurture import NurtureEvent
from leadstream.schemas.dlq import DlqHeader, DlqRecord, DlqSource
from leadstream.schemas.handover import (
    AccountEngagedEvent,
    EngagedContact,
    AttributedTouch,
    Attribution,
    ConsentChangedEvent,
    ConsentTrigger,
    SCHEMA_VERSION,
    Contributor,
    ErasedEvent,
    HandoverEvent,
    LeadsMergedEvent,
    ModelRef,
    Routing,
    TrailItem,
    Trigger,
)

__all__ = [
    "touchpoint_to_core",
    "routed_touchpoint",
    "feedback_to_core",
    "command_to_core",
    "transition_to_handover",
    "transition_to_handover_json",
    "merged_to_handover",
    "erased_to_handover",
    "dlq_record",
    "lead_to_api",
    "account_to_api",
    "engaged_to_handover",
]


def feedback_to_core(verdict: Any) -> Feedback:
    return Feedback(
        feedback_id=verdict.feedback_id,
        lead_id=verdict.lead_id,
        verdict=verdict.verdict,
        occurred_at=verdict.occurred_at.timestamp(),
        reason=verdict.reason,
        owner=verdict.owner,
        bant=verdict.bant.model_dump(exclude_none=True) if verdict.bant else {},
        amount=verdict.amount,
    )


def command_to_core(command: MergeCommand | EraseCommand) -> MergeRequest | Erase:
    at = command.issued_at.timestamp()
    if isinstance(command, MergeCommand):
        first, other = command.lead_ids
        return MergeRequest(merge_id=command.command_id, lead_id=first, other=other,
                            survivor=command.survivor, at=at)
    lead_id, _ = canonical_lead_id(lead_id=command.lead_id, email=command.email,
                                   crm_id=command.crm_id, anonymous_id=command.anonymous_id)
    return Erase(erase_id=command.command_id, lead_id=lead_id, at=at)


def routed_touchpoint(envelope: Any) -> Touchpoint | Link:
    """A touchpoint that names a visitor and a contact goes to the visitor first (to link them,
    core.identity_flow); every other one goes straight to its lead."""
    touchpoint = touchpoint_to_core(envelope)
    if envelope.anonymous_id and touchpoint.has_contact:
        return Link(lead_id=visitor_id(envelope.anonymous_id), touchpoint=touchpoint)
    return touchpoint


def touchpoint_to_core(envelope: Any) -> Touchpoint:
    """The validated envelope as the core sees it; the email itself stays behind (only its domain
    goes on, as the profile field ``email_domain`` for fit rules such as free-mail or competitor)."""
    lead_id, has_contact = canonical_lead_id(
        lead_id=envelope.lead_id,
        email=envelope.email,
        crm_id=envelope.crm_id,
        anonymous_id=envelope.anonymous_id,
    )
    payload = envelope.payload.model_dump(mode="json", exclude_none=True)
    if envelope.email:
        domain = envelope.email.rsplit("@", 1)[1].lower()
        payload["profile"] = {**payload.get("profile", {}), "email_domain": domain}
    return Touchpoint(
        event_id=envelope.event_id,
        type=envelope.type,
        occurred_at=envelope.occurred_at.timestamp(),
        lead_id=lead_id,
        has_contact=has_contact,
        payload=payload,
        campaign=envelope.campaign,
        channel=envelope.channel,
        source=envelope.source,
    )


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


def transition_to_handover(transition: Transition) -> HandoverEvent:
    return HandoverEvent(
        transition_id=transition.transition_id,
        lead_id=transition.lead_id,
        sequence=transition.sequence,
        kind=transition.kind,  # type: ignore[arg-type]
        from_stage=transition.from_stage,
        to_stage=transition.to_stage,
        reason=transition.reason,
        detail=transition.detail,
        occurred_at=_utc(transition.occurred_at),
        trigger=Trigger(
            event_id=transition.trigger_event_id,
            type=transition.trigger_type,
            occurred_at=_utc(transition.occurred_at),
        ),
        score=transition.score,
        grade=transition.grade,  # type: ignore[arg-type]
        fit_points=transition.fit_points,
        matrix=transition.matrix,
        temperature=transition.temperature,  # type: ignore[arg-type]
        scores=transition.scores,
        bant=transition.bant,
        bant_status=transition.bant_status,  # type: ignore[arg-type]
        routing=Routing(**transition.routing),
        top_contributors=[
            Contributor(rule=rule, points=points, count=count)
            for rule, points, count in transition.contributors
        ],
        recent_touchpoints=[
            TrailItem(event_id=event_id, type=kind, occurred_at=_utc(at))
            for event_id, kind, at in transition.trail
        ],
        profile=transition.profile,
        model=ModelRef(name=transition.model_name, version=transition.model_version),
        attribution=_attribution_out(transition.attribution),
        account_id=transition.account_id,
    )


def _attribution_out(found: dict[str, Any]) -> Attribution | None:
    if not found:  # a transition kept from before attribution was recorded
        return None
    touches = {kind: (AttributedTouch(**_touch_view(touch)) if touch else None)  # type: ignore[arg-type]
               for kind, touch in found.items() if kind != "source_type"}
    return Attribution(**touches, source_type=found["source_type"])


# the closed sets the contract checks, read off the model so the two cannot drift apart
_KINDS = frozenset(get_args(HandoverEvent.model_fields["kind"].annotation))
_GRADES = frozenset(get_args(HandoverEvent.model_fields["grade"].annotation))
_TEMPERATURES = frozenset(get_args(HandoverEvent.model_fields["temperature"].annotation))
_BANT_STATUSES = frozenset(get_args(HandoverEvent.model_fields["bant_status"].annotation))
_ROUTING_KEYS = tuple(Routing.model_fields)
_ROUTING_KEY_SET = frozenset(_ROUTING_KEYS)


def transition_to_handover_json(transition: Transition) -> bytes:
    """The transition's handover record as JSON: the same bytes as
    ``transition_to_handover(transition).model_dump_json()``, at a fraction of the cost.

    Building the nested pydantic models costs more than the rest of publishing a transition,
    only to validate values the core made itself (benchmarks/HISTORY.md). A value the
    contract would reject (an unknown grade, an unknown routing key, an int beyond 64 bits in the
    profile) takes the pydantic path, so it fails exactly as before; tests/unit/test_handover_json.py
    holds the two paths to the same bytes.
    """
    routing = transition.routing
    if (transition.kind not in _KINDS or transition.grade not in _GRADES or transition.sequence < 1
            or transition.temperature not in _TEMPERATURES
            or transition.bant_status not in _BANT_STATUSES
            or not routing.keys() <= _ROUTING_KEY_SET):
        return _validated(transition)
    at = _utc(transition.occurred_at)
    try:
        return orjson.dumps(
            {
                "schema_version": SCHEMA_VERSION,
                "kind": transition.kind,
                "transition_id": transition.transition_id,
                "lead_id": transition.lead_id,
                "sequence": int(transition.sequence),
                "from_stage": transition.from_stage,
                "to_stage": transition.to_stage,
                "reason": transition.reason,
                "detail": transition.detail,
                "occurred_at": at,
                "trigger": {"event_id": transition.trigger_event_id,
                            "type": transition.trigger_type, "occurred_at": at},
                "score": float(transition.score),
                "grade": transition.grade,
                "fit_points": float(transition.fit_points),
                "matrix": transition.matrix,
                "temperature": transition.temperature,
                "scores": {name: float(value) for name, value in transition.scores.items()},
                "top_contributors": [
                    {"rule": rule, "points": float(points), "count": int(count)}
                    for rule, points, count in transition.contributors
                ],
                "recent_touchpoints": [
                    {"event_id": event_id, "type": kind, "occurred_at": _utc(occurred)}
                    for event_id, kind, occurred in transition.trail
                ],
                "profile": transition.profile,
                "bant": transition.bant,
                "bant_status": transition.bant_status,
                "routing": {key: routing.get(key) for key in _ROUTING_KEYS},
                "model": {"name": transition.model_name, "version": transition.model_version},
                "attribution": _attribution_json(transition.attribution),
                "account_id": transition.account_id,
            },
            option=orjson.OPT_UTC_Z,
        )
    except (TypeError, ValueError, OverflowError):  # orjson.JSONEncodeError is a TypeError
        return _validated(transition)


def _attribution_json(found: dict[str, Any]) -> dict[str, Any] | None:
    if not found:
        return None
    out: dict[str, Any] = {}
    for kind in attribution.KINDS:
        touch = found.get(kind)
        out[kind] = None if touch is None else {
            "event_id": touch[1], "type": touch[2], "occurred_at": _utc(touch[0]),
            "source": touch[3], "campaign": touch[4], "channel": touch[5]}
    out["source_type"] = found["source_type"]
    return out


def _validated(transition: Transition) -> bytes:
    return transition_to_handover(transition).model_dump_json().encode()


def engaged_to_handover(event: AccountEngaged) -> bytes:
    return AccountEngagedEvent(
        engagement_id=event.engagement_id, account_id=event.account_id, entry=event.entry,
        engagement=event.engagement, best_grade=event.best_grade,  # type: ignore[arg-type]
        contacts=[EngagedContact(lead_id=c.lead_id, score=c.score, grade=c.grade,  # type: ignore[arg-type]
                                 stage=c.stage, role=c.role) for c in event.contacts],
        occurred_at=_utc(event.occurred_at)).model_dump_json().encode()


def merged_to_handover(merged: LeadsMerged) -> LeadsMergedEvent:
    return LeadsMergedEvent(merge_id=merged.merge_id, survivor=merged.survivor,
                            absorbed=merged.absorbed, rule=merged.rule,  # type: ignore[arg-type]
                            occurred_at=_utc(merged.occurred_at))


def consent_to_handover(change: ConsentChanged) -> ConsentChangedEvent:
    at = _utc(change.occurred_at)
    return ConsentChangedEvent(
        change_id=change.change_id, lead_id=change.lead_id,
        scope=change.scope,  # type: ignore[arg-type]
        status=change.status,  # type: ignore[arg-type]
        occurred_at=at, trigger=ConsentTrigger(event_id=change.event_id, occurred_at=at))


def nurture_to_event(signal: NurtureSignal) -> NurtureEvent:
    return NurtureEvent(
        signal_id=signal.signal_id, lead_id=signal.lead_id,
        signal=signal.signal,  # type: ignore[arg-type]
        reason=signal.reason, stage=signal.stage, occurred_at=_utc(signal.occurred_at),
        trigger_event_id=signal.trigger_event_id, score=signal.score,
        grade=signal.grade)  # type: ignore[arg-type]


def erased_to_handover(erased: Erased) -> ErasedEvent:
    return ErasedEvent(erase_id=erased.erase_id, lead_id=erased.lead_id,
                       aliases=list(erased.aliases), occurred_at=_utc(erased.occurred_at))


def _b64(raw: bytes | None) -> str | None:
    return None if raw is None else base64.b64encode(raw).decode("ascii")


def dlq_record(
    *,
    kind: str,
    reason: str,
    stage: str,
    topic: str,
    partition: int,
    offset: int,
    timestamp_ms: int | None,
    key: bytes | None,
    value: bytes | None,
    headers: Iterable[tuple[str, bytes | None]] = (),
    rejected_id: str | None = None,
) -> DlqRecord:
    """A DLQ record. Its ``dlq_id`` names what was rejected, so a replay after a crash publishes
    the same id: the input position for records rejected as they come in (ingest, feedback,
    commands); in the lead stage, whose input is the app's own re-keyed copy (its offsets differ
    from run to run), the rejected message's own id (``rejected_id``: its event, feedback or
    command id), which the producer chose."""
    if rejected_id is not None:
        source = f"{stage}\x1f{kind}\x1fid\x1f{rejected_id}"
    else:
        source = f"{stage}\x1f{topic}\x1f{partition}\x1f{offset}"
    dlq_id = hashlib.sha256(source.encode()).hexdigest()
    return DlqRecord(
        dlq_id=dlq_id[:32],
        kind=kind,
        reason=reason,
        stage=stage,  # type: ignore[arg-type]
        source=DlqSource(topic=topic, partition=partition, offset=offset, timestamp_ms=timestamp_ms),
        key_b64=_b64(key),
        value_b64=_b64(value or b"") or "",
        headers=[DlqHeader(key=k, value_b64=_b64(v) or "") for k, v in headers],
        rejected_at=datetime.now(tz=UTC),
    )


def _iso(ts: float | None) -> str | None:
    return None if ts is None else _utc(ts).isoformat().replace("+00:00", "Z")


def _consent_view(state: LeadState) -> dict[str, dict[str, Any]]:
    """Each scope's current status and since when (event time); never changed: opted_in, null."""
    view: dict[str, dict[str, Any]] = {scope: {"status": consent.OPTED_IN, "since": None}
                                       for scope in consent.SCOPES}
    view[consent.EMAIL] = {"status": "deliverable", "since": None}
    for at, scope, status, _ in state.consent:
        if scope in view:
            view[scope] = {"status": status, "since": _iso(at)}
    return view


def _touch_view(touch: list[Any] | None) -> dict[str, Any] | None:
    if touch is None:
        return None
    at, event_id, kind, source, campaign, channel = touch[:6]
    return {"event_id": event_id, "type": kind, "occurred_at": _iso(at), "source": source,
            "campaign": campaign, "channel": channel}


def _bant_view(state: LeadState, models: ModelSet) -> dict[str, Any]:
    """The BANT verdict, and which negative facts hold a score-based MQL back."""
    found = bant_verdict(state.bant, models.primary.lifecycle.bant.hold_back_on)
    return {"status": found.status, "holding_back": list(found.negatives)}


def lead_to_api(state: LeadState, models: ModelSet) -> dict[str, Any]:
    """What ``GET /leads/{id}`` answers: the lead as of its latest event, explained."""
    if state.merged_into is not None:
        return {"lead_id": state.lead_id, "merged_into": state.merged_into}
    at = state.last_event_at if state.last_event_at is not None else 0.0
    view = snapshot(state, models, at)
    scores = {}
    for model in models.all:
        counts = state.rule_counts.get(model.name, {})
        parts = sorted(contributions(state.components.get(model.name, {}), model, at),
                       key=lambda c: (-abs(c[1]), c[0]))
        scores[model.name] = {
            "version": model.version,
            "score": view.scores[model.name],
            "contributions": [
                {"rule": rule, "points": round(points, 2), "count": counts.get(rule, 0)}
                for rule, points in parts
            ],
        }
    return {
        "lead_id": state.lead_id,
        "stage": state.stage,
        "as_of": _iso(state.last_event_at),
        "score": view.score,
        "grade": view.grade,
        "fit_points": view.fit_points,
        "matrix": view.matrix,
        "temperature": view.temperature,
        "scores": scores,
        "bant": state.bant,
        "bant_status": _bant_view(state, models),
        "profile": state.profile,
        "consent": _consent_view(state),
        "attribution": {**{kind: _touch_view(state.attribution.get(kind))
                           for kind in attribution.KINDS},
                        "source_type": attribution.source_type(state.attribution, models)},
        "account_id": account_of(state.profile, models.accounts)
        if state.stage != Stage.VISITOR else None,
        "routing": state.routing,
        "touchpoints": state.touchpoints,
        "first_event_at": _iso(state.first_event_at),
        "last_event_at": _iso(state.last_event_at),
        "mql_since": _iso(state.mql_since),
        "sla_breaches": state.sla_breaches,
        "history": [
            {**{k: v for k, v in entry.items() if k != "at"}, "at": _iso(entry["at"])}
            for entry in state.history
        ],
        "recent_touchpoints": [
            {"event_id": entry[0], "type": entry[1], "occurred_at": _iso(entry[2])}
            for entry in state.trail
        ],
        "aliases": state.aliases,
        "model": models.ref,
    }


def account_to_api(state: AccountState, models: ModelSet) -> dict[str, Any]:
    """What ``GET /accounts/{id}`` answers: the account as of its newest contact's event time."""
    rules = models.accounts
    view = evaluate(state, models.primary, rules)
    return {
        "account_id": state.account_id,
        "as_of": _iso(view.at),
        "engagement": view.engagement,
        "engaged": not state.armed,
        "engagements": state.engaged,
        "threshold": {"engaged_score": rules.engaged_score,
                      "engaged_contacts": rules.engaged_contacts,
                      "contact_min_score": rules.contact_min_score},
        "engaged_contacts": len(view.engaged),
        "best_grade": view.best_grade,
        "roles": sorted({c.role for c in view.engaged if c.role}),
        "contacts": [{"lead_id": c.lead_id, "score": c.score, "grade": c.grade,
                      "stage": c.stage, "role": c.role,
                      "engaged": c.score >= rules.contact_min_score} for c in view.contacts],
    }
