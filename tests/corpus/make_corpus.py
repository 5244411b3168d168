"""Writes the bad-input corpus (tests/corpus/{touchpoints,feedback}/NNN-<kind>-<what>.bin).

The files are the corpus; this script only documents how each was made and can rewrite them
(`python tests/corpus/make_corpus.py`). The expected DLQ kind is the second part of the name.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
T = "2026-11-01T09:00:00Z"
ENV: dict[str, Any] = {"event_id": "bad-1", "type": "web_visit", "occurred_at": T, "lead_id": "CORPUS-1",
                       "payload": {"url": "/pricing"}}


def j(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()


def env(**changes: Any) -> bytes:
    out = dict(ENV)
    for key, value in changes.items():
        if value is ...:
            out.pop(key, None)
        else:
            out[key] = value
    return j(out)


def payload(type_: str, body: Any, **changes: Any) -> bytes:
    return env(type=type_, payload=body, **changes)


TOUCHPOINTS: list[tuple[str, str, bytes]] = [
    ("invalid_json", "empty", b""),
    ("invalid_json", "truncated", env()[:-7]),
    ("invalid_json", "trailing-comma", b'{"event_id":"x","type":"web_visit",}'),
    ("invalid_json", "single-quotes", b"{'event_id': 'x'}"),
    ("invalid_json", "invalid-utf8", env().replace(b"/pricing", b"/pri\xff\xfecing")),
    ("invalid_json", "latin1-text", "{\"event_id\":\"caf\xe9\"}".encode("latin-1")),
    ("invalid_json", "nan-literal", env()[:-1] + b',"score":NaN}'),
    ("invalid_json", "infinity-literal", env()[:-1] + b',"score":-Infinity}'),
    ("invalid_json", "duplicate-type-key", b'{"event_id":"x","type":"web_visit","type":"demo_request",'
                                           b'"occurred_at":"' + T.encode() + b'","lead_id":"L","payload":{"url":"/"}}'),
    ("invalid_json", "duplicate-nested-key", payload("web_visit", {"url": "/a"})[:-2] + b',"url":"/b"}}'),
    ("invalid_json", "deeply-nested", env()[:-1] + b',"x":' + b"[" * 20_000 + b"]" * 20_000 + b"}"),
    ("invalid_json", "two-objects", env() + env()),
    ("invalid_json", "bom-prefixed", b"\xef\xbb\xbf" + env()),
    ("invalid_json", "nul-bytes", b"\x00" * 32),
    ("invalid_json", "binary-garbage", bytes(range(256))),
    ("not_an_object", "array", j([ENV])),
    ("not_an_object", "string", j("web_visit")),
    ("not_an_object", "number", b"42"),
    ("not_an_object", "null", b"null"),
    ("missing_type", "no-type", env(type=...)),
    ("unknown_type", "unknown-type", env(type="page_like")),
    ("unknown_type", "type-wrong-case", env(type="Web_Visit")),
    ("unknown_type", "type-is-number", env(type=7)),
    ("unknown_type", "type-sql-injection", env(type="web_visit'; DROP TABLE leads;--")),
    ("missing_identity", "no-identity", env(lead_id=...)),
    ("missing_identity", "all-identities-null", env(lead_id=None, email=None, anonymous_id=None, crm_id=None)),
    ("invalid_field", "empty-lead-id", env(lead_id="")),
    ("invalid_field", "whitespace-lead-id", env(lead_id="   ")),
    ("invalid_field", "lead-id-sql-injection", env(lead_id="'; DROP TABLE leads;--")),
    ("invalid_field", "lead-id-html", env(lead_id="<script>alert(1)</script>")),
    ("invalid_field", "lead-id-control-chars", env(lead_id="L1\x00\x1b[31m")),
    ("invalid_field", "lead-id-too-long", env(lead_id="L" * 201)),
    ("invalid_field", "lead-id-is-object", env(lead_id={"$ne": None})),
    ("invalid_field", "event-id-missing", env(event_id=...)),
    ("invalid_field", "event-id-empty", env(event_id="")),
    ("invalid_field", "event-id-newline", env(event_id="evt\nSet-Cookie: x")),
    ("invalid_field", "email-without-at", env(lead_id=..., email="clara.weber.example")),
    ("invalid_field", "email-two-ats", env(lead_id=..., email="a@b@c.example")),
    ("invalid_field", "email-html", env(lead_id=..., email="<img src=x onerror=alert(1)>@x.example")),
    ("invalid_field", "email-is-list", env(lead_id=..., email=["a@b.example"])),
    ("invalid_field", "occurred-at-missing", env(occurred_at=...)),
    ("invalid_field", "occurred-at-no-zone", env(occurred_at="2026-11-01T09:00:00")),
    ("invalid_field", "occurred-at-garbage", env(occurred_at="yesterday")),
    ("invalid_field", "occurred-at-invalid-date", env(occurred_at="2026-02-30T09:00:00Z")),
    ("invalid_field", "occurred-at-absurd-epoch", env(occurred_at=1e20)),
    ("implausible_time", "occurred-at-year-1", env(occurred_at="0001-01-01T00:00:00Z")),
    ("implausible_time", "occurred-at-1970", env(occurred_at="1970-01-01T00:00:00Z")),
    ("implausible_time", "occurred-at-far-future", env(occurred_at="2999-01-01T00:00:00Z")),
    ("invalid_field", "payload-missing", env(payload=...)),
    ("invalid_field", "payload-is-string", env(payload="url=/pricing")),
    ("invalid_field", "url-empty", payload("web_visit", {"url": ""})),
    ("invalid_field", "url-control-chars", payload("web_visit", {"url": "/pricing\r\nX-Injected: 1"})),
    ("invalid_field", "duration-negative", payload("web_visit", {"url": "/", "duration_s": -5})),
    ("invalid_field", "duration-absurd", payload("web_visit", {"url": "/", "duration_s": 1e9})),
    ("invalid_field", "company-size-negative", payload("form_submit", {"form_id": "f", "profile": {"company_size": -10}})),
    ("invalid_field", "company-size-absurd", payload("form_submit", {"form_id": "f", "profile": {"company_size": 10**15}})),
    ("invalid_field", "company-size-text", payload("form_submit", {"form_id": "f", "profile": {"company_size": "lots"}})),
    ("invalid_field", "budget-negative", payload("form_submit", {"form_id": "f", "bant": {"budget": -1}})),
    ("invalid_field", "budget-huge", payload("form_submit", {"form_id": "f", "bant": {"budget": 1e300}})),
    ("invalid_field", "timeline-unknown", payload("form_submit", {"form_id": "f", "bant": {"timeline": "soonish"}})),
    ("invalid_field", "job-title-control-chars", payload("form_submit", {"form_id": "f", "profile": {"job_title": "CTO\x07\x08"}})),
    ("invalid_field", "job-title-too-long", payload("form_submit", {"form_id": "f", "profile": {"job_title": "x" * 501}})),
    ("invalid_field", "asset-kind-unknown", payload("download", {"asset_id": "a", "asset_kind": "exe"})),
    ("invalid_field", "webinar-status-unknown", payload("webinar", {"webinar_id": "w", "status": "maybe"})),
    ("invalid_field", "bounce-missing", payload("email_bounce", {})),
    ("invalid_field", "form-id-missing", payload("form_submit", {"profile": {}})),
    ("invalid_field", "valid-envelope-payload-of-other-type", payload("email_click", {"url": "/pricing"})),
    ("invalid_field", "authority-not-bool", payload("demo_request", {"bant": {"authority": "maybe"}})),
    ("oversize", "huge-message", payload("chat", {"summary": "x" * 70_000})),
]

FEEDBACK: list[tuple[str, str, bytes]] = [
    ("invalid_json", "truncated", b'{"feedback_id":"fb-1","lead_id":"CORPUS-1"'),
    ("invalid_json", "duplicate-verdict-key", b'{"feedback_id":"fb-1","lead_id":"CORPUS-1","verdict":"lost",'
                                              b'"verdict":"won","occurred_at":"' + T.encode() + b'"}'),
    ("not_an_object", "array", b'["accepted"]'),
    ("invalid_field", "verdict-unknown", j({"feedback_id": "fb-2", "lead_id": "CORPUS-1", "verdict": "maybe", "occurred_at": T})),
    ("invalid_field", "lead-id-missing", j({"feedback_id": "fb-3", "verdict": "accepted", "occurred_at": T})),
    ("invalid_field", "reason-free-text", j({"feedback_id": "fb-4", "lead_id": "CORPUS-1", "verdict": "rejected",
                                             "occurred_at": T, "reason": "Customer said: 'no budget!'"})),
    ("invalid_field", "owner-injection", j({"feedback_id": "fb-5", "lead_id": "CORPUS-1", "verdict": "accepted",
                                            "occurred_at": T, "owner": "x\"; rm -rf /"})),
    ("implausible_time", "far-future", j({"feedback_id": "fb-6", "lead_id": "CORPUS-1", "verdict": "accepted",
                                          "occurred_at": "2999-01-01T00:00:00Z"})),
    ("unknown_lead", "never-seen-lead", j({"feedback_id": "fb-7", "lead_id": "em-000000000000000000000000",
                                           "verdict": "accepted", "occurred_at": T})),
    ("impossible_verdict", "won-for-an-mgl", j({"feedback_id": "fb-8", "lead_id": "CORPUS-1", "verdict": "won",
                                                "occurred_at": T})),
    ("impossible_verdict", "qualified-before-accepted", j({"feedback_id": "fb-9", "lead_id": "CORPUS-1",
                                                           "verdict": "qualified", "occurred_at": T})),
]


def main() -> None:
    for folder, cases in (("touchpoints", TOUCHPOINTS), ("feedback", FEEDBACK)):
        target = HERE / folder
        target.mkdir(exist_ok=True)
        for old in target.glob("*.bin"):
            old.unlink()
        for i, (kind, what, raw) in enumerate(cases, 1):
            (target / f"{i:03d}-{kind}-{what}.bin").write_bytes(raw)


if __name__ == "__main__":
    main()
