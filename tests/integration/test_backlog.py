"""Same log, same answer: paced, as a backlog and under kill -9, with the identity mix real
tracking produces (tests/backlog.py; ``python -m tests.backlog`` is the long run with ticks)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from leadstream.broker import EmbeddedBroker
from tests.backlog import (build_mix_log, differences, late_blocking_facts, run_backlog, run_paced,
                           snapshot_of)
from tests.integration.conftest import Deployment

pytestmark = pytest.mark.integration

LOG = build_mix_log(touchpoints=700, people=70, seed=3)
#: 300 records/s: still a pace the worker keeps up with (the long run uses 100/s)
PER_SLICE = 60


@pytest.fixture
def deployments(broker: EmbeddedBroker, tmp_path: Path,
                request: pytest.FixtureRequest) -> Iterator[Callable[[str], Deployment]]:
    made: list[Deployment] = []

    def make(name: str) -> Deployment:
        (tmp_path / name).mkdir()
        made.append(Deployment(broker=broker, name=f"mix-{name}-{len(made)}-{id(request)}",
                               base=tmp_path / name))
        return made[-1]

    yield make
    for deployment in made:
        deployment.stop()
        assert not any(worker.alive for worker in deployment.workers)


def test_the_log_mixes_identities_as_tracking_does() -> None:
    bodies = []
    for phase in LOG.phases:
        for _, value in phase.records if phase.topic == "touchpoints" else ():
            try:
                body = json.loads(value)
            except ValueError:
                continue  # the log's malformed records
            if isinstance(body, dict) and not str(body.get("event_id")).startswith("bad-"):
                bodies.append(body)
    cookie_only = [b for b in bodies if "anonymous_id" in b and "email" not in b and "lead_id" not in b]
    contact_only = [b for b in bodies if "anonymous_id" not in b and ("email" in b or "lead_id" in b)]
    both = [b for b in bodies if "anonymous_id" in b and ("email" in b or "lead_id" in b)]
    assert {b["type"] for b in cookie_only} == {"web_visit"}
    assert {"email_open", "unsubscribe", "webinar"} <= {b["type"] for b in contact_only}
    assert "web_visit" not in {b["type"] for b in contact_only + both}
    assert len(both) > 20 and len(contact_only) > 200
    commands = [json.loads(value)["command"] for _, value in LOG.phases[1].records]
    assert {"merge", "erase"} <= set(commands)


def test_paced_backlog_and_kills_give_the_same_leads_and_ids(
        deployments: Callable[[str], Deployment]) -> None:
    paced = deployments("paced")
    run_paced(paced, LOG, settle=0, per_slice=PER_SLICE)
    reference = snapshot_of(paced)
    stages = {view[0] for view in reference.leads.values()}
    assert {"mgl", "mql"} <= stages and any(s.startswith("retired:") for s in stages)
    assert len(reference.transition_ids) > 60 and reference.dlq_inputs
    assert reference.two_contents == 0  # no transition id names two transitions

    backlog = deployments("backlog")
    run_backlog(backlog, LOG, settle=0)
    in_backlog = snapshot_of(backlog)
    assert differences(reference, in_backlog) == {}
    assert in_backlog.two_contents == 0
    # a promotion that a late opt-out or negative points could not stop (README, the second
    # limit of "Decisions in event time"): possible where the direct path falls behind the
    # visitor's, which a backlog does not cause (ingest reads both; the hop is the longer way)
    late_in_backlog = late_blocking_facts(reference, in_backlog)

    killed = deployments("kills")
    report = run_paced(killed, LOG, kills=2, seed=5, settle=0, per_slice=PER_SLICE)
    after_kills = snapshot_of(killed)
    late_after_kills = late_blocking_facts(reference, after_kills)
    print(json.dumps({"transitions": len(reference.transition_ids),
                      "republished_after_kills": after_kills.handover_records
                      - len(after_kills.transition_ids), "kills": report.kills,
                      "late_blocking_fact": {"backlog": late_in_backlog, "kills": late_after_kills}}))
    assert report.kills == 2
    # everything else is exact: stages, stage entries and transition ids of every other lead,
    # every score and grade, the DLQ
    assert differences(reference, after_kills) == {}
    assert after_kills.two_contents == 0
    assert len(late_in_backlog) + len(late_after_kills) <= 0.05 * len(reference.leads)
