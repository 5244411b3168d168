"""Identity on the real broker: visitor → lead with its history, alias routing, merge command,
GDPR erasure (no key left in any table), hygiene filters."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from leadstream.core.identity import email_lead_id
from leadstream.demo.observe import counter_total
from leadstream.streams.pipeline import DEADLINES_TABLE, LEADS_TABLE, changelog_topic, lead_messages_topic
from tests.factories import T0, wire
from tests.integration.conftest import Deployment, http_get

pytestmark = pytest.mark.integration

H = timedelta(hours=1)


def _send(deployment: Deployment, topic: str, *bodies: dict) -> None:  # type: ignore[type-arg]
    deployment.produce([(b"k", json.dumps(b).encode()) for b in bodies], topic=deployment.topics[topic])


def _lead(deployment: Deployment, base_url: str, lead_id: str, **expected: object) -> dict:  # type: ignore[type-arg]
    """The lead as GET /leads/{id} shows it, once it shows ``expected``."""
    answer: dict = {}  # type: ignore[type-arg]

    def shows() -> bool:
        nonlocal answer
        status, answer = http_get(f"{base_url}/leads/{lead_id}")
        return status == 200 and all(answer.get(k) == v for k, v in expected.items())

    deployment.wait_for(shows, timeout=60, what=f"lead {lead_id} with {expected}")
    return answer


def test_a_visitor_becomes_a_lead_with_its_history(deployment: Deployment) -> None:
    deployment.env_overrides.update({
        "LEADSTREAM__HYGIENE__INTERNAL_EMAIL_DOMAINS": "[leadstream.example]",
        "LEADSTREAM__HYGIENE__INTERNAL_IP_RANGES": "[10.0.0.0/8]",
    })
    email = "jana.fischer@alpen-logistik.example"
    lead = email_lead_id(email)
    worker = deployment.start_worker()
    visits = [wire("web_visit", event_id=f"v{i}", at=(i - 3) * H, anonymous_id="ck-9",
                   payload={"url": "/pricing"}) for i in range(3)]
    _send(deployment, "touchpoints", *visits)
    visitor = _lead(deployment, worker.base_url, "anon-ck-9", touchpoints=3)
    assert visitor["stage"] == "visitor" and visitor["score"] > 0

    now = datetime.now(tz=UTC)
    _send(deployment, "touchpoints",
          wire("form_submit", event_id="form", at=0 * H, anonymous_id="ck-9", email=email,
               payload={"form_id": "contact", "profile": {"company": "Alpen Logistik"}}),
          wire("web_visit", event_id="later", at=1 * H, anonymous_id="ck-9", payload={"url": "/"}),
          # hygiene: none of these is scored; each goes to the DLQ with its reason
          wire("web_visit", event_id="bot", anonymous_id="ck-9", payload={"url": "/"},
               user_agent="Mozilla/5.0 (compatible; Googlebot/2.1)"),
          wire("web_visit", event_id="staff", email="sales@leadstream.example", payload={"url": "/"}),
          wire("web_visit", event_id="office", anonymous_id="ck-9", ip="10.1.2.3", payload={"url": "/"}),
          wire("web_visit", event_id="future", anonymous_id="ck-9", at=now + timedelta(hours=2),
               payload={"url": "/"}))

    (mgl,) = deployment.handovers(count=1)
    assert (mgl["lead_id"], mgl["from_stage"], mgl["to_stage"], mgl["reason"]) == (
        lead, "visitor", "mgl", "contact_identified")
    # the handover lists the anonymous visits, and the score counts them
    assert [t["event_id"] for t in mgl["recent_touchpoints"]] == ["v0", "v1", "v2", "form"]
    counts = {c["rule"]: c["count"] for c in mgl["top_contributors"]}
    assert counts["pricing_visit"] == 3 and counts["web_visit"] == 3 and counts["form_submit"] == 1

    # the visit after the link was anonymous-only: it lands on the lead
    merged = _lead(deployment, worker.base_url, lead, touchpoints=5)
    assert merged["aliases"] == ["anon-ck-9"]
    assert merged["score"] > visitor["score"]
    assert http_get(f"{worker.base_url}/leads/anon-ck-9") == (
        200, {"lead_id": "anon-ck-9", "merged_into": lead})

    # a retired visitor held in the worker's state cache forwards without rewriting itself: its
    # changelog gets no new record (one read from RocksDB would be rewritten, see agents/leads/handler.py)
    leads_changelog = changelog_topic(deployment.settings(), LEADS_TABLE)

    def visitor_records() -> list[Any]:
        return [r for r in deployment.consume(leads_changelog, count=1, timeout=20)
                if r.key == b"anon-ck-9"]
    before = visitor_records()
    assert json.loads(before[-1].value)["merged_into"] == lead
    _send(deployment, "touchpoints",
          wire("web_visit", event_id="later-2", at=2 * H, anonymous_id="ck-9", payload={"url": "/"}))
    _lead(deployment, worker.base_url, lead, touchpoints=6)
    assert len(visitor_records()) == len(before)

    dlq = [json.loads(m.value) for m in deployment.consume("dlq", count=4)]
    kinds = {json.loads(base64.b64decode(r["value_b64"]))["event_id"]: r["kind"] for r in dlq}
    assert kinds == {"bot": "bot_traffic", "staff": "internal_traffic", "office": "internal_traffic",
                     "future": "future_event"}


def _latest_by_key(deployment: Deployment, topic: str) -> dict[bytes, bytes | None]:
    latest: dict[bytes, bytes | None] = {}
    for record in deployment.consume(topic, count=1, timeout=20):
        latest[record.key] = record.value
    return latest


def test_merge_command_then_erase_leaves_no_key_behind(deployment: Deployment) -> None:
    email = "xaver.huber@isar-health.example"
    x = email_lead_id(email)
    worker = deployment.start_worker()
    _send(deployment, "touchpoints",
          wire("demo_request", event_id="x1", at=0 * H, email=email),  # X: MQL
          wire("web_visit", event_id="y0", at=-2 * H, anonymous_id="ck-7", payload={"url": "/"}),
          wire("form_submit", event_id="y1", at=1 * H, crm_id="0815", anonymous_id="ck-7"))
    deployment.handovers(count=3)  # X: visitor→mgl→mql; crm-0815: visitor→mgl
    _lead(deployment, worker.base_url, "crm-0815", aliases=["anon-ck-7"])

    _send(deployment, "commands", {"command": "merge", "command_id": "dedupe-1",
                                   "issued_at": (T0 + 2 * H).isoformat(),
                                   "lead_ids": ["crm-0815", x]})
    records = deployment.handovers(count=4)
    merged = [r for r in records if r["kind"] == "leads_merged"]
    assert merged == [{"schema_version": 1, "kind": "leads_merged", "merge_id": "dedupe-1",
                       "survivor": x, "absorbed": "crm-0815", "rule": "most_advanced_stage",
                       "occurred_at": "2026-11-01T11:00:00Z"}]
    survivor = _lead(deployment, worker.base_url, x, touchpoints=3)
    assert survivor["aliases"] == ["crm-0815", "anon-ck-7"]
    # input for the merged-away id now counts for the survivor
    _send(deployment, "touchpoints", wire("web_visit", event_id="y2", at=3 * H, crm_id="0815",
                                          payload={"url": "/"}))
    _lead(deployment, worker.base_url, x, touchpoints=4)

    _send(deployment, "commands", {"command": "erase", "command_id": "gdpr-1",
                                   "issued_at": (T0 + 4 * H).isoformat(), "email": email})
    erased = [r for r in deployment.handovers(count=5) if r["kind"] == "erased"]
    assert erased == [{"schema_version": 1, "kind": "erased", "erase_id": "gdpr-1", "lead_id": x,
                       "aliases": ["crm-0815", "anon-ck-7"], "occurred_at": "2026-11-01T13:00:00Z"}]
    gone = {x, "crm-0815", "anon-ck-7"}
    deployment.wait_for(lambda: all(http_get(f"{worker.base_url}/leads/{k}")[0] == 404 for k in gone),
                        timeout=30, what="erased ids to be gone")
    worker.stop()

    settings = deployment.settings()
    for table in (LEADS_TABLE, DEADLINES_TABLE):
        keys = {k.decode() for k in deployment.table(table)}
        assert not keys & gone, f"{table} still holds {keys & gone}"
        latest = _latest_by_key(deployment, changelog_topic(settings, table))
        assert all(latest.get(k.encode()) is None for k in gone), f"{table} changelog keeps a value"
    assert x.encode() in _latest_by_key(deployment, changelog_topic(settings, LEADS_TABLE))  # tombstoned

    # later touchpoints for an erased identity start from nothing
    worker = deployment.start_worker()
    _send(deployment, "touchpoints", wire("web_visit", event_id="y3", at=5 * H, anonymous_id="ck-7",
                                          payload={"url": "/"}))
    fresh = _lead(deployment, worker.base_url, "anon-ck-7", touchpoints=1)
    assert fresh["stage"] == "visitor" and fresh["aliases"] == []


def test_a_hand_over_this_build_cannot_read_stops_the_worker_and_reaches_no_dlq(
        deployment: Deployment) -> None:
    """A mixed group across a state-version change: a newer worker's visitor hand-over reaches
    this one. Dead-lettering it would lose the visitor's history; the worker stops instead, with
    the hand-over unacknowledged, so an upgraded worker applies it."""
    from leadstream.core.messages import Absorb
    from leadstream.core.state import STATE_VERSION, LeadState
    from leadstream.streams.pipeline import lead_messages_topic
    from leadstream.streams.encoding.codecs import encode_message

    worker = deployment.start_worker()
    newer = {**LeadState(lead_id="anon-ck-5").to_primitive(), "v": STATE_VERSION + 1}
    absorb = Absorb(absorb_id="link-5", lead_id="em-000000000000000000000005",
                    absorbed_id="anon-ck-5", absorbed=newer, rule="identified_visitor",
                    at=T0.timestamp())
    deployment.produce([(absorb.lead_id.encode(), encode_message(absorb))],
                       topic=lead_messages_topic(deployment.settings()))
    deployment.wait_for(lambda: not worker.alive, timeout=60, what="the worker to stop")
    assert worker.returncode != 0
    log = worker.log_path.read_text()
    assert "StateVersionError" in log and f"version {STATE_VERSION + 1} is not" in log
    assert deployment.consume("dlq", count=1, timeout=5) == []


@pytest.mark.parametrize("at_ingest", [True, False])
def test_a_linked_visitors_next_touchpoints_go_straight_to_the_lead(
        deployment: Deployment, at_ingest: bool) -> None:
    """Once the link is handled and its outputs are written, ingest does the visitor's forward
    itself (streams/services/visitor_shortcut.py): the lead gets them in order, through one hop. Turned
    off, they go through the retired visitor, with the same outcome."""
    email = "ida.berg@nordlicht.example"
    lead = email_lead_id(email)
    if not at_ingest:
        deployment.env_overrides["LEADSTREAM__IDENTITY__FORWARD_AT_INGEST"] = "false"
    worker = deployment.start_worker()
    _send(deployment, "touchpoints",
          wire("form_submit", event_id="link", anonymous_id="ck-7", email=email, at=-2 * H,
               payload={"form_id": "contact"}))
    _lead(deployment, worker.base_url, lead, touchpoints=1)
    deployment.wait_for(lambda: http_get(f"{worker.base_url}/leads/anon-ck-7")[1].get("merged_into")
                        == lead, what="the visitor retired")
    # the visitor's batch is acknowledged once its forwards are written, a moment after its state
    time.sleep(1.0)

    _send(deployment, "touchpoints",
          wire("web_visit", event_id="again", anonymous_id="ck-7", email=email, at=-1 * H,
               payload={"url": "/pricing"}),
          wire("web_visit", event_id="alone", anonymous_id="ck-7", at=0 * H, payload={"url": "/"}))

    answer = _lead(deployment, worker.base_url, lead, touchpoints=3)
    assert [t["event_id"] for t in answer["recent_touchpoints"]] == ["link", "again", "alone"]
    internal = lead_messages_topic(deployment.settings())
    keys: dict[str, list[bytes]] = {}
    for record in deployment.consume(internal, count=4 if at_ingest else 6):
        value = json.loads(record.value)
        event = value.get("tp", {}).get("e") if value.get("k") in ("L", "A") else value.get("e")
        if value.get("k") != "A":
            keys.setdefault(event, []).append(record.key)
    samples = deployment.metrics(worker)
    forwarded = {note: counter_total(samples, "leadstream_identity_messages_total", note=note)
                 for note in ("forwarded_at_ingest", "forwarded")}
    if at_ingest:
        assert keys == {"link": [b"anon-ck-7"], "again": [lead.encode()], "alone": [lead.encode()]}
        assert forwarded == {"forwarded_at_ingest": 2, "forwarded": 0}
    else:  # each went to the visitor first (the forward from there is a plain touchpoint)
        assert keys == {"link": [b"anon-ck-7"], "again": [b"anon-ck-7", lead.encode()],
                        "alone": [b"anon-ck-7", lead.encode()]}
        assert forwarded == {"forwarded_at_ingest": 0, "forwarded": 2}
