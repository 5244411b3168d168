"""The worker's HTTP endpoints against real workers: health, readiness, lead query, funnel, auth."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
from datetime import timedelta
from typing import Any

import pytest

from aiokafka.partitioner import DefaultPartitioner

from leadstream.core.identity import email_lead_id
from leadstream.demo.observe import counter_total
from tests.factories import wire
from tests.integration.conftest import Deployment, http_get

pytestmark = pytest.mark.integration

TOKEN = "s3cret-token"
DACH = {"first_name": "Clara", "last_name": "Weber", "job_title": "Head of IT",
        "company_size": 640, "industry": "healthcare", "country": "DE"}


def get(url: str, token: str | None = TOKEN) -> tuple[int, Any]:
    return http_get(url, token)


def _lead_show(*args: str, token: str = TOKEN) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("LEADSTREAM_")}
    environ["LEADSTREAM__WEB__API_TOKEN"] = token
    return subprocess.run([sys.executable, "-m", "leadstream", "lead", "show", *args], env=environ,
                          capture_output=True, text=True, timeout=60, check=False)


def _journeys(n: int) -> tuple[list[dict[str, Any]], list[str]]:
    bodies, emails = [], []
    for i in range(n):
        email = f"person{i}@isar-health.example"
        emails.append(email)
        # even: inbound from paid search (nets), odd: a partner's referral (seeds)
        origin = ({"channel": "paid_search", "campaign": "spring"} if i % 2 == 0 else
                  {"channel": "referral", "campaign": "partners"})
        bodies.append(wire("form_submit", event_id=f"f{i}", email=email,
                           payload={"form_id": "contact", "profile": DACH}, **origin))
        if i % 2 == 0:
            bodies.append(wire("demo_request", event_id=f"d{i}", email=email, at=timedelta(hours=1)))
    return bodies, emails


def _produce(deployment: Deployment, bodies: list[dict[str, Any]]) -> None:
    # keyed by person, as a producer should: one person's touchpoints stay in order
    deployment.produce([(str(b.get("email")).encode(), json.dumps(b).encode()) for b in bodies])


def test_one_worker_answers_health_lead_and_funnel_queries(deployment: Deployment) -> None:
    deployment.env_overrides.update({"LEADSTREAM__WEB__AUTH": "token", "LEADSTREAM__WEB__API_TOKEN": TOKEN,
                                     "LEADSTREAM__LOG__FORMAT": "json"})
    worker = deployment.start_worker()
    base = worker.base_url
    assert get(f"{base}/healthz", token=None) == (200, {"status": "alive"})
    status, ready = get(f"{base}/readyz", token=None)
    assert status == 200 and ready["ready"] is True and ready["partitions"] == list(range(8))

    bodies, emails = _journeys(6)
    _produce(deployment, [*bodies, {"type": "nope"}])
    deployment.handovers(count=6 + 3)  # every lead becomes an MGL, every other one an MQL

    lead = email_lead_id(emails[0])
    assert get(f"{base}/leads/{lead}", token=None)[0] == 401
    assert get(f"{base}/leads/{lead}", token="wrong")[0] == 401
    for path in ("/reports/funnel", "/accounts/isar-health.example"):
        assert get(f"{base}{path}", token=None)[0] == 401
        assert get(f"{base}{path}")[0] == 200
    status, body = get(f"{base}/leads/{lead}")
    assert status == 200
    assert (body["lead_id"], body["stage"], body["grade"], body["matrix"]) == (lead, "mql", "A", "A2")
    assert [(h["from"], h["to"], h["reason"]) for h in body["history"]] == [
        ("visitor", "mgl", "contact_identified"), ("mgl", "mql", "hand_raiser")]
    contributions = body["scores"]["default"]["contributions"]
    assert [(c["rule"], c["count"]) for c in contributions] == [("demo_request", 1), ("form_submit", 1)]
    assert body["score"] == pytest.approx(sum(c["points"] for c in contributions), abs=0.02)
    assert body["routing"]["team"] == "dach-midmarket"
    assert body["profile"]["company_size"] == 640

    status, missing = get(f"{base}/leads/em-000000000000000000000000")
    assert status == 404 and missing["error"] == "not_found"

    # the same through the CLI, looked up by email (hashed on the client, as ingest does)
    shown = _lead_show("--email", emails[0].upper(), "--url", base)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines()[0].startswith(f"lead {lead}  stage mql")
    assert re.search(r"demo_request\s+\+\d+\.\d\d  \(1x\)", shown.stdout)
    assert "mgl → mql  (hand_raiser)" in shown.stdout and "team dach-midmarket" in shown.stdout
    refused = _lead_show(lead, "--url", base, token="wrong")
    assert refused.returncode == 1 and "refused the API token" in refused.stderr
    unknown = _lead_show("em-000000000000000000000000", "--url", base)
    assert unknown.returncode == 1 and "no lead 'em-000000000000000000000000'" in unknown.stderr

    status, funnel = get(f"{base}/funnel")
    assert status == 200
    assert (funnel["stages"], funnel["grades"]) == ({"mgl": 3, "mql": 3}, {"A": 6})
    assert funnel["complete"] is True and funnel["workers"] == 1

    samples = deployment.metrics(worker)
    assert counter_total(samples, "leadstream_leads", stage="mql") == 3
    assert counter_total(samples, "leadstream_ready") == 1
    assert counter_total(samples, "leadstream_touchpoints_total", outcome="dlq", type="unknown") == 1
    assert counter_total(samples, "leadstream_handover_latency_seconds_count", since="ingest") == 9
    worker.stop()

    log = (deployment.base / "w1.log").read_text()
    assert not any(email in log for email in emails)
    assert "Clara" not in log and "Weber" not in log
    entries = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    assert entries and {"ts", "level", "logger", "message"} <= set(entries[0])
    assert any("DLQ" in e["message"] for e in entries)


def test_two_workers_answer_for_every_lead_and_sum_the_funnel(deployment: Deployment) -> None:
    # six demo requests make ~109 points of account engagement: below the default threshold
    deployment.env_overrides["LEADSTREAM__ACCOUNTS__ENGAGED_SCORE"] = "100"
    first = deployment.start_worker("w1")
    second = deployment.start_worker("w2")

    def both_ready() -> bool:
        answers = [get(f"{w.base_url}/readyz", token=None) for w in (first, second)]
        parts = [set(a[1]["partitions"]) for a in answers]
        return all(a[0] == 200 for a in answers) and parts[0].isdisjoint(parts[1]) and \
            len(parts[0] | parts[1]) == 8 and all(parts)

    deployment.wait_for(both_ready, timeout=90, what="two workers sharing the partitions")
    bodies, emails = _journeys(12)
    _produce(deployment, bodies)
    deployment.handovers(count=12 + 6)

    for email in emails:
        lead = email_lead_id(email)
        answers = [get(f"{w.base_url}/leads/{lead}") for w in (first, second)]
        assert answers[0] == answers[1]
        assert answers[0][0] == 200 and answers[0][1]["lead_id"] == lead
    funnels = [get(f"{w.base_url}/funnel")[1] for w in (first, second)]
    for funnel in funnels:
        assert funnel["stages"] == {"mgl": 6, "mql": 6}
        assert funnel["workers"] == 2 and funnel["complete"] is True
    local = [get(f"{w.base_url}/funnel?scope=local")[1] for w in (first, second)]
    assert sum(sum(part["counts"]["stages"].values()) for part in local) == 12
    # the lead desk answers across workers like the API: either worker's pages count all twelve,
    # its MQL total sums both workers' metrics, and it shows a lead the other worker holds
    for worker in (first, second):
        funnel_html = _html(f"{worker.base_url}/ui?part=main")
        assert re.findall(r'data-label="(mgl|mql)" data-value="(\d+)"', funnel_html)[:2] == \
            [("mgl", "6"), ("mql", "6")]
        assert 'data-label="default (primary)" data-value="6"' in _html(f"{worker.base_url}/ui/model")
        for email in emails[:3]:
            assert f'<code id="lead-id">{email_lead_id(email)}</code>' in _html(
                f"{worker.base_url}/ui/lead?id={email_lead_id(email)}")

    # the report reads every lead on both workers, whichever worker is asked
    reports = [get(f"{w.base_url}/reports/funnel?by=source_type")[1] for w in (first, second)]
    assert reports[0] == reports[1]
    report = reports[0]
    assert report["workers"] == 2 and report["complete"] is True
    # the even ones (paid search) asked for a demo: MQLs; the partner referrals did not
    assert {name: (g["leads"], g["reached"]["mql"]) for name, g in report["groups"].items()} == \
        {"nets": (6, 6), "seeds": (6, 0)}
    assert report["groups"]["nets"]["conversion"]["mgl_to_mql"] == 1.0
    assert report["groups"]["nets"]["median_hours"]["mgl_to_mql"] == 1.0
    by_campaign = get(f"{first.base_url}/reports/funnel?by=campaign")[1]["groups"]
    assert {name: g["leads"] for name, g in by_campaign.items()} == {"spring": 6, "partners": 6}
    later = get(f"{second.base_url}/reports/funnel?since=2030-01-01")[1]
    assert later["groups"] == {}
    assert get(f"{first.base_url}/reports/funnel?by=colour")[0] == 400

    # the twelve are one company: one account, on one partition, hears from leads on both
    # workers' partitions, and either worker answers for it
    partitioner = DefaultPartitioner()
    held = {w: set(get(f"{w.base_url}/readyz", token=None)[1]["partitions"])
            for w in (first, second)}
    lead_partitions = {partitioner(email_lead_id(e).encode(), list(range(8)), list(range(8)))
                       for e in emails}
    assert all(lead_partitions & parts for parts in held.values())
    deployment.wait_for(
        lambda: get(f"{first.base_url}/accounts/isar-health.example")[0] == 200
        and len(get(f"{first.base_url}/accounts/isar-health.example")[1]["contacts"]) == 12,
        timeout=30, what="the account to hear from all twelve")
    accounts = [get(f"{w.base_url}/accounts/isar-health.example")[1] for w in (first, second)]
    assert accounts[0] == accounts[1]
    account = accounts[0]
    assert {c["lead_id"] for c in account["contacts"]} == {email_lead_id(e) for e in emails}
    assert account["engaged"] is True and account["engaged_contacts"] >= 2, account
    assert get(f"{second.base_url}/accounts/nobody.example")[0] == 404
    # a lead's view names its account as the account's worker has it, whichever worker holds
    # the lead
    for email in emails[:4]:
        lead_view = get(f"{first.base_url}/leads/{email_lead_id(email)}")[1]
        assert lead_view["account_id"] == "isar-health.example"
        assert lead_view["account"]["engaged"] is True
        assert lead_view["account"]["engagement"] == account["engagement"]
    engaged = [h for h in deployment.handovers(count=12 + 6 + 1, accounts=True)
               if h["kind"] == "account_engaged"]
    assert [(e["account_id"], e["entry"]) for e in engaged] == [("isar-health.example", 1)]
    assert {c["lead_id"] for c in engaged[0]["contacts"]} <= {email_lead_id(e) for e in emails}


def _html(url: str) -> str:
    with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 - loopback
        assert response.status == 200
        return str(response.read().decode())


def _post(url: str, body: bytes, token: str | None = TOKEN,
          content_type: str = "application/x-ndjson") -> tuple[int, Any]:
    headers = {"Content-Type": content_type}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def test_touchpoints_posted_over_http_arrive_scored(deployment: Deployment) -> None:
    deployment.env_overrides.update({"LEADSTREAM__WEB__AUTH": "token",
                                     "LEADSTREAM__WEB__API_TOKEN": TOKEN,
                                     "LEADSTREAM__WEB__INGEST_MAX_BYTES": "4096"})
    worker = deployment.start_worker()
    url = f"{worker.base_url}/touchpoints"
    deployment.wait_for(lambda: get(f"{worker.base_url}/readyz", token=None)[0] == 200,
                        timeout=60, what="the worker is ready")
    email = "nora@fjord-logistics.example"
    good = [wire("form_submit", event_id="h1", email=email,
                 payload={"form_id": "contact", "profile": DACH}),
            wire("demo_request", event_id="h2", email=email, at=timedelta(hours=1))]
    bad = {"type": "web_visit", "event_id": "h3"}  # no identity, no time
    ndjson = b"\n".join(json.dumps(b).encode() for b in (good[0], bad, good[1])) + b"\n"

    assert _post(url, ndjson, token=None)[0] == 401
    assert _post(url, b"x" * 5000)[0] == 413
    assert _post(url, b"[{", content_type="application/json")[0] == 400
    assert _post(url, b'{"type": "web_visit"}', content_type="application/json")[0] == 400
    status, answer = _post(url, ndjson)
    assert status == 202, answer
    assert (answer["accepted"], answer["rejected"]) == (2, 1)
    assert [r["status"] for r in answer["results"]] == ["accepted", "rejected", "accepted"]
    assert answer["results"][1]["kind"] in ("missing_identity", "invalid_field")
    # a JSON array works too; a re-sent record is a duplicate downstream, never counted twice
    status, again = _post(url, json.dumps([good[1]]).encode(), content_type="application/json")
    assert status == 202 and again["accepted"] == 1

    deployment.wait_for(lambda: counter_total(deployment.metrics(worker),
                                              "leadstream_touchpoints_total") >= 3,
                        timeout=30, what="the posted touchpoints reach the lead")
    samples = deployment.metrics(worker)
    assert counter_total(samples, "leadstream_touchpoints_total", outcome="scored") == 2
    assert counter_total(samples, "leadstream_touchpoints_total", outcome="duplicate") == 1
    assert counter_total(samples, "leadstream_http_ingest_records_total", outcome="accepted") == 3
    assert counter_total(samples, "leadstream_http_ingest_records_total", outcome="rejected") == 1
    status, lead = get(f"{worker.base_url}/leads/{email_lead_id(email)}")
    assert status == 200 and lead["stage"] == "mql" and lead["touchpoints"] == 2
