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
    assert outcome.missing_signals == set() and outcome.unexpected_signals == set()  # lead-nurture
    assert outcome.duplicates_differing == []
    assert outcome.dlq_by_stage_kind == reference.rejected


@pytest.mark.torture  # 45 s: a long run (./dev test -m torture); the takeover above stays
def test_two_workers_killed_in_turn_never_take_the_survivor_down(deployment: Deployment) -> None:
    """kill -9 of either worker, again and again, mid-stream: the other one rides out every
    rebalance (a partition revoked while it seeks, fetches or commits must not end it), and the
    outcome is the uninterrupted one — the same transition ids, every DLQ record once by id."""
    reference = Reference(MODELS)
    reference.feed(LOG.phases[0])
    workers = {"w1": deployment.start_worker("w1"), "w2": deployment.start_worker("w2")}
    first = LOG.phases[0]
    trickle = Trickle(deployment, first.records, deployment.topics[first.topic], slices=60)
    trickle.start()
    kills = 0
    # each worker is killed once and survives the other's death once (the long run kills more:
    # python -m tests.torture)
    for victim_name in ("w2", "w1"):
        time.sleep(1.5)
        survivor_name = "w1" if victim_name == "w2" else "w2"
        workers[victim_name].kill()
        kills += 1
        # the survivor goes through the rebalance (it takes the victim's partitions)
        deployment.wait_for(lambda: len(_partitions(workers[survivor_name])) == 8
                            or not workers[survivor_name].alive,
                            timeout=60, what="the survivor to hold every partition")
        assert workers[survivor_name].alive, \
            f"{survivor_name} exited ({workers[survivor_name].returncode}) after {victim_name} died"
        workers[victim_name] = deployment.start_worker(victim_name)
        assert workers[survivor_name].alive
    trickle.finish()
    deployment.wait_for(lambda: drained(deployment), timeout=180, what="everything processed")
    assert all(worker.alive for worker in workers.values())
    for worker in workers.values():
        worker.stop()

    handovers = deployment.handovers(count=len(reference.transitions), settle=2.0, consent=True,
                                     updates=True)
    # transitions and consent statements (reference.transitions holds both, by id)
    assert {h.get("transition_id") or h.get("change_id") for h in handovers
            if "transition_id" in h or "change_id" in h} == set(reference.transitions)
    dlq = [json.loads(m.value) for m in deployment.consume("dlq", count=sum(reference.rejected.values()),
                                                            settle=2.0)]
    # a record rejected again after a crash carries the same dlq_id: one id per rejected input
    assert len({d["dlq_id"] for d in dlq}) == sum(reference.rejected.values())
    assert kills == 2

