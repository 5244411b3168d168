"""The broker freezes (SIGSTOP) for 30 s mid-stream; the worker recovers by itself and the outcome
equals the uninterrupted one."""

from __future__ import annotations

import json
import time

import pytest

from leadstream.config.model_loader import DEFAULT_MODEL_PATH, load_models
from tests.integration.conftest import Deployment
from tests.torture import Reference, build_log, check_outcome, drained

# 40 s, most of it the stall itself: a long run (./dev test -m torture)
pytestmark = [pytest.mark.integration, pytest.mark.torture]

MODELS = load_models(DEFAULT_MODEL_PATH, [])
LOG = build_log(touchpoints=1500, people=150, seed=13, models=MODELS)
STALL_S = 30.0


def test_a_30_second_broker_stall_changes_nothing(deployment: Deployment) -> None:
    # touchpoints only: one phase, so the run needs one drain (verdicts are covered by test_crash)
    reference = Reference(MODELS)
    reference.feed(LOG.phases[0])
    worker = deployment.start_worker()
    pid = worker.pid
    first = LOG.phases[0]
    deployment.produce(first.records, topic=deployment.topics[first.topic])
    time.sleep(0.5)
    deployment.broker.pause()
    try:
        time.sleep(STALL_S)
    finally:
        deployment.broker.resume()
    resumed = time.monotonic()
    deployment.wait_for(lambda: drained(deployment), timeout=180, what="recovery after the stall")
    recovery = time.monotonic() - resumed
    assert worker.alive and worker.pid == pid, "the worker must survive the stall without a restart"
    worker.stop()

    outcome = check_outcome(deployment, reference)
    print(json.dumps({"stall_s": STALL_S, "drained_after_resume_s": round(recovery, 1),
                      "handover_duplicates": outcome.handover_duplicates}))
    assert outcome.lead_mismatches == []
    assert outcome.missing_transitions == set() and outcome.unexpected_transitions == set()
    assert outcome.missing_signals == set() and outcome.unexpected_signals == set()  # lead-nurture
    assert outcome.duplicates_differing == []
    assert outcome.dlq_by_stage_kind == reference.rejected
