"""Two workers share the partitions; one is killed -9 mid-stream; the other takes over within a
bounded time and the outcome equals the uninterrupted one."""

from __future__ import annotations

import json
import time
import urllib.request

import pytest

from leadstream.config.model_loader import DEFAULT_MODEL_PATH, load_models
from tests.integration.conftest import Deployment
from tests.torture import Reference, Trickle, build_log, check_outcome, drained

pytestmark = pytest.mark.integration

MODELS = load_models(DEFAULT_MODEL_PATH, [])
LOG = build_log(touchpoints=2500, people=200, seed=9, models=MODELS)
TAKEOVER_BOUND_S = 30.0


def _partitions(worker: object) -> list[int]:
    try:
        with urllib.request.urlopen(f"{worker.base_url}/readyz", timeout=2) as response:  # type: ignore[attr-defined]  # noqa: S310
            return list(json.loads(response.read())["partitions"])
    except OSError:  # 503 while rebalancing, or not up
        return []


def test_the_survivor_takes_over_and_nothing_changes(deployment: Deployment) -> None:
    # touchpoints only: one phase, so the run needs one drain (verdicts are covered by test_crash)
    reference = Reference(MODELS)
    reference.feed(LOG.phases[0])
    deployment.quick_rejoin = False  # the takeover time is measured with the product's settings
    survivor = deployment.start_worker("w1")
    victim = deployment.start_worker("w2")
    deployment.wait_for(lambda: 0 < len(_partitions(survivor)) < 8 and 0 < len(_partitions(victim)) < 8,
                        timeout=90, what="two workers sharing the partitions")

    first = LOG.phases[0]
    # a trickle over ~8 s: a fast worker drains a burst before the kill could land
    trickle = Trickle(deployment, first.records, deployment.topics[first.topic], slices=40)
    trickle.start()
    time.sleep(1.0)
    assert not trickle.done.is_set(), "the kill must land mid-stream"
    victim.kill()
    killed = time.monotonic()
    deployment.wait_for(lambda: len(_partitions(survivor)) == 8, timeout=90, what="the takeover")
    takeover = time.monotonic() - killed
    assert takeover < TAKEOVER_BOUND_S

    trickle.finish()
    deployment.wait_for(lambda: drained(deployment), timeout=180, what="everything processed")
    survivor.stop()

    outcome = check_outcome(deployment, reference)
    print(json.dumps({"takeover_s": round(takeover, 1), "handover_duplicates": outcome.handover_duplicates}))
    assert outcome.lead_mismatches == []
    assert outcome.missing_transitions == set() and outcome.unexpected_transitions == set()
    assert outcome.duplicates_differing == []
    assert outcome.dlq_by_stage_kind == reference.rejected
