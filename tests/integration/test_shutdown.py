"""SIGTERM mid-stream: the worker finishes, flushes and commits in bounded time; after a restart
nothing is lost and nothing is processed twice."""

from __future__ import annotations

import json
import time

import pytest

from leadstream.demo.observe import counter_total, scrape
from leadstream.demo.traffic import TrafficGenerator
from tests.integration.conftest import Deployment
from tests.torture import drained

pytestmark = pytest.mark.integration

TOTAL = 20_000
SHUTDOWN_BOUND_S = 20.0


def _scored(worker: object, outcome: str = "scored") -> float:
    try:
        samples = scrape(worker.metrics_url)  # type: ignore[attr-defined]
    except OSError:
        return 0.0
    return counter_total(samples, "leadstream_touchpoints_total", outcome=outcome)


def test_sigterm_mid_stream_loses_nothing_and_counts_nothing_twice(deployment: Deployment) -> None:
    traffic = TrafficGenerator(people=400, total=TOTAL, seed=23, duplicate_rate=0.0, malformed_rate=0.0,
                               bot_rate=0.0)
    records = [next(traffic) for _ in range(TOTAL)]
    deployment.produce([(r.key, r.value) for r in records])
    # The worker stops at the end of the partition batch at hand, and counts are published per
    # batch: with fetches of 1 MiB or more, one batch can hold a partition's whole share of the log
    # (~0.75 MB), the first reading above 5 % came as late as 14,000 scored, and the SIGTERM could
    # land after the last batch was taken: nothing was left, and the run failed (~1 in 8 at 1 MiB).
    # Small fetches keep most of the log unread.
    deployment.env_overrides["LEADSTREAM__KAFKA__MAX_PARTITION_FETCH_BYTES"] = str(64 * 1024)

    first = deployment.start_worker()
    deployment.wait_for(lambda: _scored(first) >= TOTAL * 0.05, timeout=120, what="processing to start")
    scored_before = _scored(first)
    started = time.monotonic()
    code = first.stop(timeout=60)
    took = time.monotonic() - started
    assert scored_before < TOTAL, "the SIGTERM must land mid-stream"
    assert took < SHUTDOWN_BOUND_S, f"shutdown took {took:.1f}s"
    assert code == 0
    log = (deployment.base / "w1.log").read_text(errors="replace")
    assert "Traceback" not in log

    counted_first = sum(lead.touchpoints for lead in deployment.leads().values())
    assert 0 < counted_first < TOTAL

    second = deployment.start_worker()
    # (touchpoints a visitor had handed to its lead in flight count nowhere until the lead
    # applies them, so "scored since restart" cannot be summed with the first run's states)
    deployment.wait_for(lambda: drained(deployment), timeout=180, what="the rest to be processed")
    time.sleep(2.0)
    assert _scored(second, "duplicate") == 0, "a clean shutdown must commit everything it did"
    second.stop()
    leads = deployment.leads()
    assert sum(lead.touchpoints for lead in leads.values()) == TOTAL

    handovers = deployment.handovers(count=1, settle=2.0, updates=True)
    ids = [h["transition_id"] for h in handovers if "transition_id" in h]  # not consent_changed
    # the stage history holds transitions and breaches; updates are counted apart
    updates = [h for h in handovers if h.get("kind") == "lead_updated"]
    assert len(updates) == sum(lead.stage_entries.get("lead_updated", 0) for lead in leads.values())
    assert len(ids) == len(set(ids)), "no handover may be published twice after a clean shutdown"
    assert len(ids) == sum(len(lead.history) for lead in leads.values()) + len(updates)
    print(json.dumps({"shutdown_s": round(took, 2), "scored_before_sigterm": scored_before,
                      "handovers": len(ids)}))
