"""The DLQ log: one line per stage and kind per interval, with the count it left out."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest

from leadstream.agents.dlq import DlqLog


def _record(offset: int) -> SimpleNamespace:
    return SimpleNamespace(topic="touchpoints", partition=3, offset=offset)


def test_a_flood_of_one_kind_logs_once_per_interval_and_counts_the_rest(
        caplog: pytest.LogCaptureFixture) -> None:
    now = [100.0]
    dlq_log = DlqLog(interval_s=10.0, clock=lambda: now[0])
    caplog.set_level(logging.INFO, logger="leadstream.agents.dlq")
    for offset in range(5):
        dlq_log.record(_record(offset), stage="ingest", kind="invalid_json", reason="not JSON")
    dlq_log.record(_record(5), stage="ingest", kind="bot_traffic", reason="user agent")  # own key
    now[0] = 109.9
    dlq_log.record(_record(6), stage="ingest", kind="invalid_json", reason="not JSON")
    now[0] = 110.0
    dlq_log.record(_record(7), stage="ingest", kind="invalid_json", reason="not JSON")
    dlq_log.record(_record(8), stage="ingest", kind="invalid_json", reason="not JSON")
    assert [r.getMessage() for r in caplog.records] == [
        "DLQ invalid_json touchpoints[3]@0: not JSON",
        "DLQ bot_traffic touchpoints[3]@5: user agent",
        "DLQ invalid_json touchpoints[3]@7: not JSON (+5 more invalid_json in ingest since the "
        "last line)",
    ]
