"""A full journey with CRM feedback through the real pipeline, checked field by field."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest

from leadstream.core.emitted import transition_id
from leadstream.core.identity import email_lead_id
from leadstream.core.routing import owner_ranking
from tests.factories import T0, wire
from tests.integration.conftest import Deployment

pytestmark = pytest.mark.integration


def _send(deployment: Deployment, topic: str, *bodies: dict) -> None:  # type: ignore[type-arg]
    deployment.produce([(b"k", json.dumps(b).encode()) for b in bodies], topic=deployment.topics[topic])


def _verdict(lead: str, verdict: str, fid: str, hours: int, **extra: object) -> dict:  # type: ignore[type-arg]
    return {"feedback_id": fid, "lead_id": lead, "verdict": verdict,
            "occurred_at": (T0 + timedelta(hours=hours)).isoformat(), **extra}


def test_visitor_to_won_with_crm_feedback(deployment: Deployment) -> None:
    email = "clara.weber@isar-health.example"
    lead = email_lead_id(email)
    profile = {"first_name": "Clara", "company": "Isar Health", "job_title": "Head of IT",
               "company_size": 640, "industry": "healthcare", "country": "DE"}
    deployment.start_worker()
    _send(deployment, "touchpoints",
          wire("web_visit", event_id="c0", at=timedelta(hours=-2), anonymous_id="ck-1",
               payload={"url": "/pricing"}),
          wire("form_submit", event_id="c1", at=timedelta(hours=0), email=email,
               payload={"form_id": "contact", "profile": profile,
                        "bant": {"timeline": "quarter", "authority": True}}),
          wire("demo_request", event_id="c2", at=timedelta(hours=1), email=email))
    first = deployment.handovers(count=2)
    assert [(h["from_stage"], h["to_stage"], h["reason"]) for h in first] == [
        ("visitor", "mgl", "contact_identified"), ("mgl", "mql", "hand_raiser")]
    mql = first[1]
    owner = owner_ranking(lead, {"clara.m": 1, "david.w": 1, "eva.b": 1})[0]
    assert mql == {
        "schema_version": 1, "kind": "stage_transition",
        "transition_id": transition_id(lead, "mql", 1), "lead_id": lead, "sequence": 2,
        "from_stage": "mgl", "to_stage": "mql", "reason": "hand_raiser", "detail": None,
        "occurred_at": "2026-11-01T10:00:00Z",
        "trigger": {"event_id": "c2", "type": "demo_request", "occurred_at": "2026-11-01T10:00:00Z"},
        "score": mql["score"], "grade": "A", "fit_points": 60.0, "matrix": "A2",
        "temperature": "warm", "scores": {"default": mql["score"]},
        "top_contributors": [
            {"rule": "demo_request", "points": 40.0, "count": 1},
            {"rule": "form_submit", "points": pytest.approx(14.99, abs=0.01), "count": 1},
        ],
        "recent_touchpoints": [
            {"event_id": "c1", "type": "form_submit", "occurred_at": "2026-11-01T09:00:00Z"},
            {"event_id": "c2", "type": "demo_request", "occurred_at": "2026-11-01T10:00:00Z"},
        ],
        "profile": {**profile, "email_domain": "isar-health.example"},
        "bant": {"timeline": "quarter", "authority": True}, "bant_status": "open",
        "routing": {"team": "dach-midmarket", "owner": owner, "rule": "dach", "previous_owner": None},
        "model": {"name": "default", "version": "1"},
        # the anonymous visit is not hers yet: nothing linked the cookie to the email
        "attribution": {
            "first_touch": {"event_id": "c1", "type": "form_submit",
                            "occurred_at": "2026-11-01T09:00:00Z", "source": None,
                            "campaign": None, "channel": None},
            "lead_created": {"event_id": "c1", "type": "form_submit",
                             "occurred_at": "2026-11-01T09:00:00Z", "source": None,
                             "campaign": None, "channel": None},
            "mql_touch": {"event_id": "c2", "type": "demo_request",
                          "occurred_at": "2026-11-01T10:00:00Z", "source": None,
                          "campaign": None, "channel": None},
            "source_type": "nets"},
        "account_id": "isar-health.example",
    }
    assert mql["score"] == pytest.approx(54.99, abs=0.01)

    _send(deployment, "feedback",
          _verdict(lead, "qualified", "crm-0", 2),                          # impossible: still mql
          _verdict(lead, "accepted", "crm-1", 3, owner="david.w"),
          _verdict(lead, "accepted", "crm-1", 3, owner="david.w"),           # re-sent
          _verdict(lead, "qualified", "crm-2", 4, bant={"budget": 120000, "need": "CRM sync"}),
          _verdict(lead, "won", "crm-3", 5),
          _verdict("em-000000000000000000000000", "accepted", "crm-4", 5),  # unknown lead
          {"feedback_id": "crm-5", "lead_id": lead, "verdict": "maybe", "occurred_at": "2026-11-01T12:00:00Z"})
    # a touchpoint 40 days older than her newest: too late (lifecycle.max_lateness_days 30)
    late = wire("email_open", event_id="c-old", at=timedelta(days=-40), email=email,
                payload={"message_id": "m-1"})
    _send(deployment, "touchpoints", late)
    handovers = deployment.handovers(count=6)
    unique = {h["transition_id"]: h for h in handovers}
    later = sorted(unique.values(), key=lambda h: h["sequence"])[2:]
    assert [(h["from_stage"], h["to_stage"], h["reason"], h["trigger"]["event_id"]) for h in later] == [
        ("mql", "sal", "sales_accepted", "crm-1"), ("sal", "sql", "sales_qualified", "crm-2"),
        ("sql", "won", "closed_won", "crm-3")]
    assert later[0]["routing"]["owner"] == "david.w"
    assert later[-1]["bant"] == {"timeline": "quarter", "authority": True, "budget": 120000.0,
                                 "need": "CRM sync"}
    assert later[-1]["bant_status"] == "qualified"  # all four facts known and positive now
    assert len(handovers) == len(unique) + 1  # the re-sent verdict re-published its transition

    dlq = {json.loads(m.value)["kind"]: json.loads(m.value) for m in deployment.consume("dlq", count=4)}
    assert set(dlq) == {"impossible_verdict", "unknown_lead", "invalid_field", "too_late"}
    # refused by the lead agent, and yet in the DLQ byte for byte as the producer sent it (an old
    # touchpoint carries its input record to the lead agent for that)
    too_late = dlq["too_late"]
    assert too_late["stage"] == "leads" and too_late["source"]["topic"] == deployment.topics["touchpoints"]
    assert base64.b64decode(too_late["value_b64"]) == json.dumps(late).encode()
    assert base64.b64decode(too_late["key_b64"]) == b"k"
    assert dlq["impossible_verdict"]["stage"] == "leads"
    assert "'qualified' needs a lead in stage sal" in dlq["impossible_verdict"]["reason"]
    # refused by the lead agent, recorded as the CRM sent it (not as the internal message)
    unknown = dlq["unknown_lead"]
    assert unknown["stage"] == "leads" and unknown["source"]["topic"] == deployment.topics["feedback"]
    assert json.loads(base64.b64decode(unknown["value_b64"]))["feedback_id"] == "crm-4"
    assert dlq["invalid_field"]["stage"] == "feedback"
    assert "verdict" in dlq["invalid_field"]["reason"]
    assert deployment.workers[-1].alive
