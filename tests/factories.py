"""Builders for test inputs: wire touchpoints (dict/bytes), core touchpoints, models, and the Faust
producer an outbox sends through."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from leadstream.core.identity import canonical_lead_id, visitor_id
from leadstream.core.messages import Link, Touchpoint
from leadstream.core.model import ScoringModel

__all__ = ["T0", "wire", "core_touchpoint", "core_link", "make_model", "faust_producer"]

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
_ids = itertools.count(1)

_DEFAULT_PAYLOADS: dict[str, dict[str, Any]] = {
    "form_submit": {"form_id": "contact"},
    "email_open": {"message_id": "m-1"},
    "email_click": {"message_id": "m-1", "url": "/blog"},
    "download": {"asset_id": "wp-1", "asset_kind": "whitepaper"},
    "event_scan": {"event_name": "DMEXCO"},
    "web_visit": {"url": "/"},
    "webinar": {"webinar_id": "w-1", "status": "attended"},
    "newsletter_signup": {},
    "demo_request": {},
    "callback_request": {},
    "chat": {},
    "unsubscribe": {},
    "email_bounce": {"bounce": "hard"},
}


def wire(
    type: str = "web_visit",
    *,
    event_id: str | None = None,
    at: datetime | timedelta = timedelta(0),
    payload: dict[str, Any] | None = None,
    **identity_and_envelope: Any,
) -> dict[str, Any]:
    """A touchpoint as a producer would send it (JSON-able dict)."""
    when = T0 + at if isinstance(at, timedelta) else at
    if not any(k in identity_and_envelope for k in ("lead_id", "email", "anonymous_id", "crm_id")):
        identity_and_envelope["lead_id"] = "L1"
    return {
        "event_id": event_id or f"evt-{next(_ids)}",
        "type": type,
        "occurred_at": when.isoformat(),
        **identity_and_envelope,
        "payload": _DEFAULT_PAYLOADS[type] if payload is None else payload,
    }


def wire_bytes(*args: Any, **kwargs: Any) -> bytes:
    return json.dumps(wire(*args, **kwargs)).encode()


def core_touchpoint(
    type: str = "web_visit",
    *,
    event_id: str | None = None,
    at: float | timedelta = 0.0,
    payload: dict[str, Any] | None = None,
    lead_id: str | None = "L1",
    anonymous_id: str | None = None,
    campaign: str | None = None,
    source: str | None = None,
    channel: str | None = None,
) -> Touchpoint:
    seconds = at.total_seconds() if isinstance(at, timedelta) else at
    canonical, has_contact = canonical_lead_id(lead_id=lead_id, anonymous_id=anonymous_id)
    return Touchpoint(
        event_id=event_id or f"evt-{next(_ids)}",
        type=type,
        occurred_at=T0.timestamp() + seconds,
        lead_id=canonical,
        has_contact=has_contact,
        payload=_DEFAULT_PAYLOADS[type] if payload is None else payload,
        campaign=campaign,
        source=source,
        channel=channel,
    )


def core_link(anonymous_id: str, type: str = "form_submit", **kwargs: Any) -> Link:
    """A touchpoint that carries a visitor's anonymous id and a contact (``lead_id``, default L1):
    as ingest routes it, addressed to the visitor first."""
    return Link(lead_id=visitor_id(anonymous_id), touchpoint=core_touchpoint(type, **kwargs))


def make_model(
    rules: list[dict[str, Any]] | None = None,
    *,
    min_score: float = 50.0,
    min_grade: str = "D",
    name: str = "test",
    version: str = "1",
    lifecycle: dict[str, Any] | None = None,
    **extra: Any,
) -> ScoringModel:
    """A small model; by default any grade qualifies, so journeys depend on behaviour only."""
    return ScoringModel.model_validate(
        {
            "name": name,
            "version": version,
            "rules": rules
            or [
                {"id": "visit", "type": "web_visit", "points": 5},
                {"id": "pricing", "type": "web_visit", "match": {"url": "/pricing*"}, "points": 20},
                {"id": "form", "type": "form_submit", "points": 15, "half_life_days": 30},
                {"id": "demo", "type": "demo_request", "points": 40, "half_life_days": 30},
                {"id": "unsub", "type": "unsubscribe", "points": -20},
            ],
            "lifecycle": {
                "mql": {"min_score": min_score, "min_grade": min_grade},
                "hand_raiser_min_grade": min_grade,
                **(lifecycle or {}),
            },
            **extra,
        }
    )


def faust_producer(kafka: Any) -> Any:
    """Faust's producer as :class:`~leadstream.streams.lane.outbox.Outbox` uses it: only
    ``_ensure_producer()``, which hands over the aiokafka producer (``kafka``, real or fake)."""
    return SimpleNamespace(_ensure_producer=lambda: kafka)
