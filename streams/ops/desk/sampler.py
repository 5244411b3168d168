"""The desk's live numbers: every worker's counters, summed, sampled every few seconds while
someone looks (the first page view starts it), kept for the last half hour."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

__all__ = ["Sample", "Sampler", "totals_of"]


@dataclass(frozen=True)
class Sample:
    at: float  # wall clock
    mql: float  # leads that became MQLs, all workers
    handovers: float  # handover events: transitions, SLA breaches, updates
    dlq: dict[str, float] = field(default_factory=dict)  # reason → records
    shadow_mql: dict[str, float] = field(default_factory=dict)  # shadow model → into mql


def totals_of(texts: list[str]) -> Sample:
    """One sample from the Prometheus text of each worker."""
    mql = handovers = 0.0
    dlq: dict[str, float] = {}
    shadow: dict[str, float] = {}
    for text in texts:
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                if not s.name.endswith("_total"):
                    continue
                if s.name == "leadstream_stage_transitions_total":
                    handovers += s.value
                    # into mql from another stage (mql → mql are SLA breaches and updates)
                    if s.labels.get("to_stage") == "mql" and s.labels.get("from_stage") != "mql":
                        mql += s.value
                elif s.name == "leadstream_dlq_records_total":
                    reason = s.labels.get("reason", "")
                    dlq[reason] = dlq.get(reason, 0.0) + s.value
                elif s.name == "leadstream_shadow_transitions_total" and \
                        s.labels.get("to_stage") == "mql":
                    model = s.labels.get("model", "")
                    shadow[model] = shadow.get(model, 0.0) + s.value
    return Sample(time.time(), mql, handovers, dlq, shadow)


class Sampler:
    def __init__(self, fetch: Callable[[], Awaitable[list[str]]], *, interval_s: float = 5.0,
                 keep: int = 360) -> None:
        self._fetch = fetch
        self.interval_s = interval_s
        self.samples: deque[Sample] = deque(maxlen=keep)
        self._task: asyncio.Task[None] | None = None

    async def latest(self) -> Sample:
        """The newest sample; the first call takes one and starts sampling."""
        if self._task is None or self._task.done():
            self.samples.append(totals_of(await self._fetch()))
            self._task = asyncio.get_running_loop().create_task(self._run())
        return self.samples[-1]

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                self.samples.append(totals_of(await self._fetch()))
            except Exception:  # a worker that does not answer: the next round tries again
                continue

    def per_minute(self, value: Callable[[Sample], float]) -> list[tuple[float, float]]:
        """``(seconds before now, rate per minute)`` between consecutive samples."""
        points = list(self.samples)
        now = time.time()
        out = []
        for a, b in zip(points, points[1:], strict=False):
            dt = b.at - a.at
            if dt > 0:
                out.append((b.at - now, max(value(b) - value(a), 0.0) * 60.0 / dt))
        return out
