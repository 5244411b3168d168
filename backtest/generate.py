"""A generated log to backtest on: the demo's traffic over weeks of event time, with the verdicts
a simulated sales team gave the MQLs the current model handed over (``leadstream traffic --out``).

The touchpoints are the demo's (``demo/traffic.py``); each record's timestamp is its event time
plus a second. The current model runs over them as a worker would (``Replay``, ticks on), and
every MQL, SAL and SQL it makes is answered by ``demo/crm.py`` hours later, as a ``lead-feedback``
record at that time; an answer due after the log's end is not given yet.
"""

from __future__ import annotations

import heapq
import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from leadstream.backtest.records import LogRecord, write_log
from leadstream.backtest.replay import Replay, no_cyclic_gc
from leadstream.config.settings import HygieneSettings
from leadstream.core.model import ModelSet
from leadstream.demo.crm import SimulatedSales
from leadstream.demo.traffic import TrafficGenerator

__all__ = ["generate_log"]

_INGEST_DELAY_MS = 1000


def _answered(sales: SimulatedSales, row: tuple[str, str, str, str, str, str, float]) -> dict[str, Any] | None:
    transition_id, lead, kind, _, to, _, at = row
    when = datetime.fromtimestamp(at, tz=UTC)
    return sales.answer({"kind": kind, "transition_id": transition_id, "lead_id": lead,
                         "to_stage": to, "occurred_at": when.isoformat(), "routing": {}})


def generate_log(path: Path | str, models: ModelSet, *, people: int, touchpoints: int,
                 seed: int = 7, days: float = 90.0, end: datetime | None = None,
                 max_message_bytes: int = 65536) -> dict[str, int]:
    """Write the log; return how many records of each kind it has."""
    traffic = TrafficGenerator(people=people, seed=seed, total=touchpoints,
                               span=timedelta(days=days), end=end)
    sales = SimulatedSales(seed)
    replay = Replay([models], HygieneSettings(), max_message_bytes)
    pending: list[tuple[int, int, LogRecord]] = []  # (timestamp ms, sequence, verdict record)
    sequence = itertools.count()
    seen = 0
    counts = {"touchpoints": 0, "feedback": 0}
    last_ms = 0

    def answer_new() -> None:
        nonlocal seen
        rows = replay.transitions(0)
        for row in rows[seen:]:
            verdict = _answered(sales, row) if row[2] == "stage_transition" else None
            if verdict is not None:
                at = datetime.fromisoformat(verdict["occurred_at"])
                ms = int(at.timestamp() * 1000)
                heapq.heappush(pending, (ms, next(sequence), LogRecord(
                    "feedback", orjson.dumps(verdict), verdict["lead_id"].encode(), ms + 1)))
        seen = len(rows)

    def records() -> Any:
        nonlocal last_ms
        for _ in range(touchpoints):
            generated = next(traffic)
            try:
                occurred = orjson.loads(generated.value).get("occurred_at")
                ms = int(datetime.fromisoformat(occurred).timestamp() * 1000) + _INGEST_DELAY_MS
            except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError):
                ms = last_ms  # a malformed record arrives with its neighbours
            while pending and pending[0][0] <= ms:
                _, _, verdict = heapq.heappop(pending)
                replay.feed(verdict)
                counts["feedback"] += 1
                answer_new()
                yield verdict
            record = LogRecord("touchpoints", generated.value, generated.key, ms)
            last_ms = max(last_ms, ms)
            replay.feed(record)
            counts["touchpoints"] += 1
            answer_new()
            yield record
        while pending and pending[0][0] <= last_ms:  # answers due by the end of the log
            _, _, verdict = heapq.heappop(pending)
            replay.feed(verdict)
            counts["feedback"] += 1
            answer_new()
            yield verdict

    with no_cyclic_gc():
        write_log(path, records())
    return counts
