"""Time passes in the real worker: SLA breaches, going cold, and idle leads after a model change."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from leadstream.config.model_loader import DEFAULT_MODEL_PATH
from leadstream.core.identity import email_lead_id
from leadstream.core.routing import owner_ranking
from leadstream.demo.observe import counter_total
from tests.factories import wire
from tests.integration.conftest import Deployment

pytestmark = pytest.mark.integration

DACH = {"job_title": "Head of IT", "company_size": 640, "industry": "healthcare", "country": "DE"}
DACH_OWNERS = {"clara.m": 1, "david.w": 1, "eva.b": 1}


def _model(tmp: Path, name: str, **changes: Any) -> Path:
    model = yaml.safe_load(DEFAULT_MODEL_PATH.read_text())
    for dotted, value in changes.items():
        node = model
        *parents, leaf = dotted.split("__")
        for part in parents:
            node = node[part]
        node[leaf] = value
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(model))
    return path


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


def _hand_raiser(email: str, at: datetime, tag: str) -> list[dict[str, Any]]:
    return [
        wire("form_submit", event_id=f"{tag}-form", at=at, email=email,
             payload={"form_id": "contact", "profile": DACH}),
        wire("demo_request", event_id=f"{tag}-demo", at=at, email=email),
    ]


def _send(deployment: Deployment, bodies: list[dict[str, Any]]) -> None:
    deployment.produce([(b"k", json.dumps(b).encode()) for b in bodies])


def _by_lead(handovers: list[dict[str, Any]]) -> dict[str, list[tuple[str, str, str, str]]]:
    out: dict[str, list[tuple[str, str, str, str]]] = {}
    for h in sorted(handovers, key=lambda h: (h["lead_id"], h["sequence"])):
        out.setdefault(h["lead_id"], []).append(
            (h["from_stage"], h["to_stage"], h["reason"], h["occurred_at"]))
    return out


def test_sla_breach_and_going_cold_fire_without_new_touchpoints(deployment: Deployment) -> None:
    model = _model(deployment.base, "fast", lifecycle__sla_hours=1, lifecycle__recycle_after_days=0.0625)
    deployment.env_overrides.update({
        "LEADSTREAM__MODEL_PATH": str(model),
        "LEADSTREAM__TICKS__ENABLED": "true",
        "LEADSTREAM__TICKS__INTERVAL_S": "0.5",
    })
    now = datetime.fromtimestamp(int(time.time()), UTC)
    breaching, cold, fresh = "ana@isar-health.example", "bo@isar-health.example", "cy@isar-health.example"
    mql_breaching = now - timedelta(minutes=70)  # SLA ran out 10 min ago, goes cold in 20 min
    mql_cold = now - timedelta(hours=10)         # breached at +1 h, went cold at +1.5 h
    deployment.start_worker()
    _send(deployment, _hand_raiser(breaching, mql_breaching, "a") + _hand_raiser(cold, mql_cold, "b")
          + _hand_raiser(fresh, now - timedelta(minutes=5), "c"))

    handovers = deployment.handovers(count=9, settle=3.0)
    t_a, t_b = mql_breaching.timestamp(), mql_cold.timestamp()
    opening = [("visitor", "mgl", "contact_identified"), ("mgl", "mql", "hand_raiser")]
    moves = _by_lead(handovers)
    assert [m[:3] for m in moves[email_lead_id(fresh)]] == opening
    assert moves[email_lead_id(breaching)][2:] == [("mql", "mql", "sla_breach", _iso(t_a + 3600))]
    assert moves[email_lead_id(cold)][2:] == [
        ("mql", "mql", "sla_breach", _iso(t_b + 3600)),
        ("mql", "recycled", "went_cold", _iso(t_b + 5400)),
    ]
    assert len(handovers) == 9  # nothing ticked twice, nothing else fired

    breach = next(h for h in handovers if h["lead_id"] == email_lead_id(breaching) and h["kind"] == "sla_breach")
    ranking = owner_ranking(email_lead_id(breaching), DACH_OWNERS)
    assert breach["routing"]["previous_owner"] == ranking[0]
    assert breach["routing"]["owner"] == ranking[1]
    assert breach["trigger"]["type"] == "tick"

    worker = deployment.workers[0]
    assert counter_total(deployment.metrics(worker), "leadstream_ticks_sent_total", cause="deadline") == 3
    worker.stop()
    leads = deployment.leads()
    assert leads[email_lead_id(cold)].stage == "recycled"
    assert leads[email_lead_id(breaching)].sla_breaches == 1


def test_a_model_change_re_checks_idle_leads(deployment: Deployment) -> None:
    deployment.env_overrides.update({"LEADSTREAM__TICKS__ENABLED": "true",
                                     "LEADSTREAM__TICKS__INTERVAL_S": "0.5"})
    idle, cool = "dee@isar-health.example", "eli@isar-health.example"
    worker = deployment.start_worker()
    _send(deployment, [
        # 15 (form) + 1 + 10 (pricing visit) = 26 < 50: an MGL under model version 1; ~15 after
        # three weeks of decay (event times are fixed in the past), over version 2's 10
        wire("form_submit", event_id="d1", email=idle, payload={"form_id": "contact", "profile": DACH}),
        wire("web_visit", event_id="d2", email=idle, payload={"url": "/pricing"}),
        wire("email_open", event_id="e1", email=cool),
    ])
    first = deployment.handovers(count=2)
    assert {(h["lead_id"], h["to_stage"]) for h in first} == {
        (email_lead_id(idle), "mgl"), (email_lead_id(cool), "mgl")}
    worker.stop()

    cheaper = _model(deployment.base, "v2", version="2", lifecycle__mql__min_score=10)
    deployment.env_overrides["LEADSTREAM__MODEL_PATH"] = str(cheaper)
    deployment.start_worker("w1")
    after = deployment.handovers(count=3, settle=3.0)
    changed = [h for h in after if h["reason"] == "model_change"]
    assert [(h["lead_id"], h["from_stage"], h["to_stage"], h["model"]) for h in changed] == [
        (email_lead_id(idle), "mgl", "mql", {"name": "default", "version": "2"})]
    assert len(after) == 3  # the email-open lead (1 point) stays where it was
