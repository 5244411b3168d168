"""One example of every message on every topic, for the AsyncAPI document (and a test validates
each against its JSON Schema file)."""

from __future__ import annotations

from typing import Any

__all__ = ["EXAMPLES"]

_LEAD = "em-71d4f55f72fa128dfb468a1a"

_TRANSITION: dict[str, Any] = {
    "schema_version": 1, "kind": "stage_transition",
    "transition_id": "8b19bb354e913204661d5d1cdc18d990", "lead_id": _LEAD, "sequence": 2,
    "from_stage": "mgl", "to_stage": "mql", "reason": "hand_raiser", "detail": None,
    "occurred_at": "2026-11-01T10:06:00Z",
    "trigger": {"event_id": "e3", "type": "demo_request", "occurred_at": "2026-11-01T10:06:00Z"},
    "score": 66.0, "grade": "A", "fit_points": 60.0, "matrix": "A2", "temperature": "warm",
    "scores": {"default": 66.0},
    "top_contributors": [{"rule": "demo_request", "points": 40.0, "count": 1},
                         {"rule": "form_submit", "points": 15.0, "count": 1}],
    "recent_touchpoints": [
        {"event_id": "e1", "type": "form_submit", "occurred_at": "2026-11-01T10:00:00Z"},
        {"event_id": "e3", "type": "demo_request", "occurred_at": "2026-11-01T10:06:00Z"}],
    "profile": {"company": "ACME", "job_title": "CTO", "company_size": 800, "country": "DE"},
    "bant": {"timeline": "quarter"}, "bant_status": "open",
    "routing": {"team": "dach-midmarket", "owner": "greta.h", "rule": "dach",
                "previous_owner": None},
    "model": {"name": "default", "version": "1"},
    "attribution": {
        "first_touch": {"event_id": "e0", "type": "web_visit", "occurred_at": "2026-10-28T15:12:00Z",
                        "source": "google", "campaign": "spring-launch", "channel": "paid_search"},
        "lead_created": {"event_id": "e1", "type": "form_submit",
                         "occurred_at": "2026-11-01T10:00:00Z", "source": "website",
                         "campaign": "spring-launch", "channel": "paid_search"},
        "mql_touch": {"event_id": "e3", "type": "demo_request", "occurred_at": "2026-11-01T10:06:00Z",
                      "source": "website", "campaign": None, "channel": "organic"},
        "source_type": "nets"},
    "account_id": "acme.example",
}

#: message name → (summary, key, payload)
EXAMPLES: dict[str, list[tuple[str, str | None, dict[str, Any]]]] = {
    "touchpoint": [
        ("an anonymous visit (cookie only)", "ck-7f3a",
         {"event_id": "ex-1001", "type": "web_visit", "occurred_at": "2026-11-02T08:15:00Z",
          "anonymous_id": "ck-7f3a", "source": "website", "payload": {"url": "/pricing"}}),
        ("a form that names the person and links the cookie", "ck-7f3a",
         {"event_id": "ex-1002", "type": "form_submit", "occurred_at": "2026-11-02T08:17:30Z",
          "anonymous_id": "ck-7f3a", "email": "jana.kraus@nordlicht-energie.example",
          "source": "website", "campaign": "q4-webinar-series", "channel": "email",
          "payload": {"form_id": "contact",
                      "profile": {"job_title": "Head of IT", "company": "Nordlicht Energie",
                                  "company_size": 820, "industry": "energy", "country": "DE"}}}),
    ],
    "feedback": [
        ("sales rejects an MQL", _LEAD,
         {"feedback_id": "crm-4711", "lead_id": _LEAD, "verdict": "rejected",
          "occurred_at": "2026-11-03T08:00:00Z", "reason": "no_budget"}),
        ("a won deal with its value", _LEAD,
         {"feedback_id": "crm-4712", "lead_id": _LEAD, "verdict": "won",
          "occurred_at": "2026-12-01T16:00:00Z", "amount": 36000.0}),
    ],
    "command": [
        ("merge two known leads", "crm-0815",
         {"command": "merge", "command_id": "crm-dedupe-0042", "issued_at": "2026-11-20T10:00:00Z",
          "lead_ids": ["em-3f1a9c0e5d7b2a4f6e8c1b3d", "crm-0815"], "survivor": "crm-0815"}),
        ("erase a person (GDPR)", None,
         {"command": "erase", "command_id": "gdpr-2026-117", "issued_at": "2026-11-20T10:00:00Z",
          "email": "jane@example.com"}),
    ],
    "handover": [
        ("a stage transition (MGL to MQL)", _LEAD, _TRANSITION),
        ("two leads merged (keyed by the survivor)", "crm-0815",
         {"schema_version": 1, "kind": "leads_merged", "merge_id": "crm-dedupe-0042",
          "survivor": "crm-0815", "absorbed": "em-3f1a9c0e5d7b2a4f6e8c1b3d", "rule": "explicit",
          "occurred_at": "2026-11-20T10:00:00Z"}),
        ("a person erased", "em-0c9d3a2b1f4e5d6c7b8a9f0e",
         {"schema_version": 1, "kind": "erased", "erase_id": "gdpr-2026-117",
          "lead_id": "em-0c9d3a2b1f4e5d6c7b8a9f0e", "aliases": ["v-ck-55aa"],
          "occurred_at": "2026-11-20T10:00:00Z"}),
        ("an unsubscribe", _LEAD,
         {"schema_version": 1, "kind": "consent_changed",
          "change_id": "083eda007d4e690e9a1dc872a80dd0fa", "lead_id": _LEAD, "scope": "marketing",
          "status": "opted_out", "occurred_at": "2025-11-02T09:00:00Z",
          "trigger": {"event_id": "evt-9021", "occurred_at": "2025-11-02T09:00:00Z"}}),
        ("an account became engaged (keyed by account)", "rheinmetall.example",
         {"schema_version": 1, "kind": "account_engaged",
          "engagement_id": "0b6f1f3e1c4a5d2e8f9a7b6c5d4e3f21", "account_id": "rheinmetall.example",
          "entry": 1, "engagement": 141.6, "best_grade": "A",
          "contacts": [{"lead_id": "em-3f9d1c0b7a2e4d5f6a7b8c9d", "score": 71.2, "grade": "A",
                        "stage": "sal", "role": "CEO"}],
          "occurred_at": "2026-11-20T14:02:11Z"}),
    ],
    "shadow": [
        ("the shadow model's would-be transition", _LEAD,
         {**_TRANSITION, "scores": {"stricter-mql": 66.0},
          "model": {"name": "stricter-mql", "version": "2"}}),
    ],
    "nurture": [
        ("an MGL that stalled", _LEAD,
         {"schema_version": 1, "kind": "nurture_signal",
          "signal_id": "a4c5516aaf60cba527ae5c0d278055ee", "lead_id": _LEAD, "signal": "stalled",
          "reason": "no_progress", "stage": "mgl", "occurred_at": "2025-12-02T09:00:00Z",
          "trigger_event_id": "due:1764666000.0", "score": 18.5, "grade": "B"}),
    ],
    "dlq": [
        ("a touchpoint without its required payload field", "ck-9b2e",
         {"schema_version": 1, "dlq_id": "ingest:touchpoints:3:1041", "kind": "invalid_field",
          "reason": "field 'payload.url': Field required", "stage": "ingest",
          "source": {"topic": "touchpoints", "partition": 3, "offset": 1041,
                     "timestamp_ms": 1764064800000},
          "key_b64": "Y2stOWIyZQ==",
          "value_b64": "eyJldmVudF9pZCI6ICJ4MSIsICJ0eXBlIjogIndlYl92aXNpdCJ9",
          "headers": [{"key": "source-system", "value_b64": "bWFya2V0bw=="}],
          "rejected_at": "2026-11-25T10:00:01Z"}),
    ],
}
