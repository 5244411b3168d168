"""The whole pipeline on the embedded broker: exact handovers, DLQ, dedupe, restarts."""

from __future__ import annotations

import base64
import json
import shutil
import time
from datetime import timedelta

import pytest

from leadstream.core.emitted import transition_id
from leadstream.core.identity import email_lead_id
from leadstream.demo.observe import counter_total
from tests.factories import wire
from tests.integration.conftest import Deployment

pytestmark = pytest.mark.integration


def _records(*bodies: dict) -> list[tuple[bytes, bytes]]:  # type: ignore[type-arg]
    return [(b"producer-key", json.dumps(body).encode()) for body in bodies]


def test_scripted_journeys_produce_the_exact_handover_events(deployment: Deployment) -> None:
    ann = "ann.example@acme.example"
    ann_id = email_lead_id(ann)
    deployment.start_worker()
    deployment.produce(
        _records(
            # Ann: identified by a form, then reaches MQL by score (15 + 1 + 10 + 1 + 10 + 15 ≥ 50)
            wire("form_submit", event_id="a1", at=timedelta(hours=0), email=ann,
                 payload={"form_id": "contact", "profile": {"company": "ACME", "job_title": "CTO"}}),
            wire("web_visit", event_id="a2", at=timedelta(hours=1), email=ann, payload={"url": "/pricing"}),
            wire("web_visit", event_id="a3", at=timedelta(hours=2), email=ann, payload={"url": "/pricing/team"}),
            wire("webinar", event_id="a4", at=timedelta(hours=3), email=ann,
                 payload={"webinar_id": "w", "status": "attended"}),
            # Bob: a hand-raiser, by explicit lead id
            wire("demo_request", event_id="b1", at=timedelta(hours=1), lead_id="BOB-7"),
            # an anonymous visitor: scored, never handed over
            wire("web_visit", event_id="v1", anonymous_id="cookie-1", payload={"url": "/pricing"}),
        )
    )
    events = deployment.handovers(count=6, updates=True)
    got = sorted(
        (e["lead_id"], e["sequence"], e["transition_id"], e["from_stage"], e["to_stage"], e["reason"],
         e["trigger"]["event_id"])
        for e in events
    )
    assert got == sorted(
        [
            (ann_id, 1, transition_id(ann_id, "mgl", 1), "visitor", "mgl", "contact_identified", "a1"),
            # the first pricing visit takes the score to band 3 (25), the second makes the lead warm
            # (30): each changes its view, an hour apart
            (ann_id, 2, transition_id(ann_id, "lead_updated\x1fa2", 1), "mgl", "mgl", "lead_changed",
             "a2"),
            (ann_id, 3, transition_id(ann_id, "lead_updated\x1fa3", 1), "mgl", "mgl", "lead_changed",
             "a3"),
            (ann_id, 4, transition_id(ann_id, "mql", 1), "mgl", "mql", "score_threshold", "a4"),
            ("BOB-7", 1, transition_id("BOB-7", "mgl", 1), "visitor", "mgl", "contact_identified", "b1"),
            ("BOB-7", 2, transition_id("BOB-7", "mql", 1), "mgl", "mql", "hand_raiser", "b1"),
        ]
    )
    ann_mql = next(e for e in events if e["lead_id"] == ann_id and e["to_stage"] == "mql")
    assert ann_mql["schema_version"] == 1
    assert ann_mql["model"] == {"name": "default", "version": "1"}
    assert ann_mql["profile"] == {"company": "ACME", "job_title": "CTO", "email_domain": "acme.example"}
    assert (ann_mql["kind"], ann_mql["grade"], ann_mql["fit_points"]) == ("stage_transition", "B", 25.0)
    assert ann_mql["matrix"] == "B2" and ann_mql["temperature"] == "warm"
    assert ann_mql["routing"]["team"] == "international"
    assert ann_mql["scores"] == {"default": ann_mql["score"]}
    assert [t["event_id"] for t in ann_mql["recent_touchpoints"]] == ["a1", "a2", "a3", "a4"]
    assert {c["rule"] for c in ann_mql["top_contributors"]} == {
        "form_submit", "web_visit", "pricing_visit", "webinar_attended"}
    h = 1 / 24  # one hour in days; the MQL trigger is 3 h after the form
    expected = (15 * 2 ** (-3 * h / 60) + 1 * (2 ** (-2 * h / 7) + 2 ** (-1 * h / 7))
                + 10 * (2 ** (-2 * h / 14) + 2 ** (-1 * h / 14)) + 15)
    assert ann_mql["score"] == pytest.approx(expected, abs=0.01)
    # the key of every handover is the canonical lead id; the email never appears
    raw = deployment.consume("handover", count=4, settle=0)
    assert {m.key.decode() for m in raw} == {ann_id, "BOB-7"}
    # record timestamps are the time of publishing (epoch ms), as with any Kafka producer
    now_ms = time.time() * 1000
    assert all(now_ms - 120_000 < m.timestamp <= now_ms + 1_000 for m in raw), [m.timestamp for m in raw]
    assert all(ann.encode() not in m.value for m in raw)


def test_malformed_records_go_to_the_dlq_and_the_stream_continues(deployment: Deployment) -> None:
    bad = [
        b"{not json",
        b"\xff\xfe\xfd",
        b"[1, 2]",
        json.dumps({**wire("web_visit"), "type": "carrier_pigeon"}).encode(),
        json.dumps({k: v for k, v in wire("web_visit").items() if k != "lead_id"}).encode(),
        json.dumps({**wire("web_visit"), "occurred_at": "2026-11-01T10:00:00"}).encode(),
        json.dumps(wire("chat", payload={"summary": "x" * 70_000})).encode(),
    ]
    good = [json.dumps(wire("demo_request", lead_id=f"L-{i}", event_id=f"ok-{i}")).encode() for i in range(3)]
    interleaved = [(b"k", v) for pair in zip(bad, good + [None] * len(bad)) for v in pair if v is not None]
    worker = deployment.start_worker()
    deployment.produce(interleaved)

    dlq = deployment.consume("dlq", count=len(bad))
    records = [json.loads(m.value) for m in dlq]
    assert sorted(r["kind"] for r in records) == sorted(
        ["invalid_json", "invalid_json", "not_an_object", "unknown_type", "missing_identity",
         "invalid_field", "oversize"])
    assert sorted(base64.b64decode(r["value_b64"]) for r in records) == sorted(bad)
    for record in records:
        assert record["stage"] == "ingest"
        assert record["source"]["topic"] == deployment.topics["touchpoints"]
        assert record["reason"] and len(record["reason"]) < 1000
        assert base64.b64decode(record["key_b64"]) == b"k"
    # every valid record after a bad one was still processed
    handovers = deployment.handovers(count=6)
    assert {h["lead_id"] for h in handovers} == {"L-0", "L-1", "L-2"}
    samples = deployment.metrics(worker)
    assert counter_total(samples, "leadstream_dlq_records_total", stage="ingest") == len(bad)
    assert counter_total(samples, "leadstream_ingest_records_total", outcome="accepted") == 3
    assert worker.alive


def test_duplicates_are_counted_once(deployment: Deployment) -> None:
    visit = wire("web_visit", event_id="dup-1", lead_id="D1", payload={"url": "/pricing"})
    worker = deployment.start_worker()
    deployment.produce(_records(visit, visit, wire("email_open", event_id="o1", lead_id="D1"), visit))
    deployment.wait_for(
        lambda: counter_total(deployment.metrics(worker), "leadstream_touchpoints_total") >= 4,
        what="4 touchpoints handled",
    )
    samples = deployment.metrics(worker)
    assert counter_total(samples, "leadstream_touchpoints_total", outcome="scored") == 2
    assert counter_total(samples, "leadstream_touchpoints_total", outcome="duplicate") == 2
    deployment.stop()
    lead = deployment.leads()["D1"]
    assert lead.touchpoints == 2
    assert lead.rule_counts == {"default": {"web_visit": 1, "pricing_visit": 1, "email_open": 1}}


def test_state_is_kept_across_a_clean_worker_restart(deployment: Deployment) -> None:
    deployment.start_worker()
    # 36 points before the restart (15 + 20 + 1): not yet an MQL (threshold 50)
    deployment.produce(_records(
        wire("form_submit", event_id="r1", lead_id="R1",  # grade C: manager 10 + DACH 10
             payload={"form_id": "f", "profile": {"job_title": "IT Manager", "country": "DE"}}),
        wire("event_scan", event_id="r2", lead_id="R1", payload={"event_name": "fair"}),
        wire("web_visit", event_id="r3", lead_id="R1", payload={"url": "/blog"}),
    ))
    assert [h["to_stage"] for h in deployment.handovers(count=1)] == ["mgl"]
    assert deployment.stop() is None
    before = deployment.leads()["R1"]
    assert before.touchpoints == 3

    deployment.start_worker()
    # +15: an MQL only if the 36 points from before the restart are still there
    deployment.produce(_records(wire("webinar", event_id="r4", lead_id="R1",
                                     payload={"webinar_id": "w", "status": "attended"})))
    handovers = deployment.handovers(count=2)
    # sequence 2 is the lead_changed update for the scan's 20 points, before the restart
    assert [(h["to_stage"], h["sequence"]) for h in handovers] == [("mgl", 1), ("mql", 3)]
    mql = handovers[1]
    assert mql["trigger"]["event_id"] == "r4"
    assert {c["rule"]: c["count"] for c in mql["top_contributors"]} == {
        "event_scan": 1, "form_submit": 1, "web_visit": 1, "webinar_attended": 1}


def test_lead_table_is_rebuilt_exactly_from_the_changelog(deployment: Deployment) -> None:
    """Wipe the local RocksDB state; recovery must restore every lead (README, "The embedded broker": ListOffsets).

    The lead handler writes its changelog records in multi-record batches: exactly the case in
    which Tansu's ListOffsets answer is wrong and recovery would stop short without the shim.
    """
    deployment.start_worker()
    kinds = ["email_open", "web_visit", "email_click", "download", "form_submit", "webinar"]
    bodies = [
        wire(kinds[i % len(kinds)], event_id=f"rb-{i}", lead_id=f"RB-{i % 40}", at=timedelta(minutes=i))
        for i in range(600)
    ]
    worker = deployment.workers[-1]
    deployment.produce(_records(*bodies))
    deployment.wait_for(
        lambda: counter_total(deployment.metrics(worker), "leadstream_touchpoints_total") >= 600,
        what="600 touchpoints handled",
    )
    deployment.stop()
    before = deployment.leads()
    assert len(before) == 40
    assert sum(lead.touchpoints for lead in before.values()) == 600

    shutil.rmtree(deployment.state_dir())
    deployment.start_worker()  # ready = recovery done
    deployment.stop()
    after = deployment.leads()
    # recovery aimed at the true end of every changelog partition (highwater = last offset)
    # at least one record per lead (one per lead and batch, not one per touchpoint)
    changelog = deployment.consume(f"{deployment.name}-leads-changelog", count=40)
    true_last = {p: max(m.offset for m in changelog if m.partition == p)
                 for p in {m.partition for m in changelog}}
    aimed = {p: h for p, h in deployment.recovery_highwaters().items() if h >= 0}
    assert aimed == true_last
    assert {k: v.to_primitive() for k, v in after.items()} == {
        k: v.to_primitive() for k, v in before.items()}
