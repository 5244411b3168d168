"""The lead handler: carries out the plan of each lead-messages batch (``plan.py``).

It runs on the batch lane: one call per fetched batch of one lead-messages partition, so one
partition is never handled twice at once (what ``concurrency=1`` gives a Faust agent). The plan
goes to the fetch's ``FetchCommit``, which owns the order of effects; this module reads stored
state for the planner, and reports the batch's counts to the metrics and its rejections to the
log.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from leadstream.agents.dlq import log_unexpected, note_rejected
from leadstream.agents.leads.shadow import SHADOW
from leadstream.agents.leads.plan import (
    DEADLINES,
    LEADS,
    STATS,
    BatchCounts,
    LeadPlan,
    LeadTopics,
    plan_batch,
)
from leadstream.core.state import LeadState
from leadstream.streams.lane import FetchCommit, InputRecord, Partition, TableBuffer
from leadstream.streams.ops.metrics import Metrics
from leadstream.streams.services.deadlines import DeadlineIndex
from leadstream.streams.services.state_cache import StateCache

if TYPE_CHECKING:
    from leadstream.streams.pipeline import Pipeline

__all__ = ["register_leads"]

log = logging.getLogger(__name__)


class _PartitionStore:
    """One partition of the lead tables, as the planner reads it: the cache, then RocksDB."""

    def __init__(self, tables: dict[str, TableBuffer], partition: int, cache: StateCache) -> None:
        self._tables = tables
        self._partition = partition
        self._cache = cache

    def cached(self, key: bytes) -> LeadState | None:
        return self._cache.get(key)

    def stored(self, table: str, key: bytes) -> bytes | None:
        return self._tables[table].get(self._partition, key)


class _Remember:
    """The in-memory views of a batch's writes: the state cache and the deadline index (its
    timer reads the deadlines from RocksDB, so they must be there first)."""

    def __init__(self, plan: LeadPlan, cache: StateCache, index: DeadlineIndex) -> None:
        self._plan = plan
        self._cache = cache
        self._index = index

    def apply(self) -> None:
        for key, due in self._plan.due:
            self._index.push(key, due)
        for key in self._plan.dropped:
            self._cache.discard(key)
        for key, state in self._plan.cache.items():
            self._cache.put(key, state)


def register_leads(pipeline: Pipeline) -> None:
    models = pipeline.models
    app = pipeline.app
    cache = pipeline.state_cache
    index = pipeline.deadline_index
    reached = pipeline.shortcut.reached
    topics = LeadTopics(handover=pipeline.handover.get_topic_name(),
                        lead_messages=pipeline.lead_messages.get_topic_name(),
                        dlq=pipeline.dlq.get_topic_name(),
                        nurture=pipeline.nurture.get_topic_name(),
                        account_messages=pipeline.account_messages.get_topic_name(),
                        shadow=pipeline.settings.topics.shadow)
    report = _Reporter(pipeline.metrics)
    shadows = pipeline.shadows

    async def leads(tp: Partition, records: list[InputRecord], commit: FetchCommit) -> None:
        partition = tp.partition
        cache.valid_for(app.consumer_generation_id)
        tables = {LEADS: commit.table(pipeline.leads),
                  DEADLINES: commit.table(pipeline.deadlines),
                  STATS: commit.table(pipeline.stats)}
        if pipeline.shadow is not None:
            tables[SHADOW] = commit.table(pipeline.shadow)
        plan = plan_batch(records, _PartitionStore(tables, partition, cache), models, topics,
                          partition, shadows)
        for key, event_id, offset in plan.reached:
            reached(key, event_id, partition, offset)
        report.batch(plan)
        shadow = plan.shadow
        for out in plan.first:
            commit.first(out.topic, out.key, out.value)
        for key, value in shadow.first:
            commit.first(topics.shadow, key, value)
        for write in plan.writes:
            if write.value is None:
                tables[write.table].delete(partition, write.key)
            else:
                tables[write.table].set(partition, write.key, write.value)
        for key, state in shadow.writes:
            if state is None:
                tables[SHADOW].delete(partition, key)
            else:
                tables[SHADOW].set(partition, key, state)
        commit.remember(_Remember(plan, cache, index))
        for out in plan.outputs:
            commit.output(out.topic, out.key, out.value)
        for key, value in shadow.outputs:
            commit.output(topics.shadow, key, value)

    pipeline.lane.subscribe(app, pipeline.lead_messages, leads)


class _Reporter:
    """A batch's counts to the metrics (label lookups once per batch), its failures to the log."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics
        self._since_event = metrics.handover_latency.labels(since="event_time")
        self._since_ingest = metrics.handover_latency.labels(since="ingest")
        self._cache_hits = metrics.state_cache.labels(outcome="hit")
        self._cache_misses = metrics.state_cache.labels(outcome="miss")

    def batch(self, plan: LeadPlan) -> None:
        metrics = self._metrics
        for poison in plan.poison:
            log_unexpected(log, "lead handler", poison.record, poison.error)
        if plan.poison:
            metrics.errors.labels(kind="apply").inc(len(plan.poison))
        for failure in plan.shadow.failures:
            log_unexpected(log, f"shadow model {failure.model}", failure.record, failure.error)
        if plan.shadow.failures:
            metrics.errors.labels(kind="shadow").inc(len(plan.shadow.failures))
        for (model, to_stage), n in plan.shadow.transitions.items():
            metrics.shadow_transitions.labels(model=model, to_stage=to_stage).inc(n)
        for rejection in plan.rejected:
            note_rejected(metrics, rejection.record, stage="leads", kind=rejection.kind,
                          reason=rejection.reason)
        self._counts(plan.counts)

    def _counts(self, counts: BatchCounts) -> None:
        metrics = self._metrics
        now = time.time()
        for occurred_at, ingested_ms in counts.latencies:
            self._since_event.observe(max(0.0, now - occurred_at))
            if ingested_ms:
                self._since_ingest.observe(max(0.0, now - ingested_ms / 1000))
        for score in counts.scores:
            metrics.behaviour_score.observe(score)
        self._cache_hits.inc(counts.cache_hits)
        self._cache_misses.inc(counts.cache_misses)
        for (type_, outcome), n in counts.touchpoints.items():
            metrics.touchpoints.labels(type=type_, outcome=outcome).inc(n)
        for (from_stage, to_stage), n in counts.transitions.items():
            metrics.transitions.labels(from_stage=from_stage, to_stage=to_stage).inc(n)
        for note, n in counts.identity_messages.items():
            metrics.identity_messages.labels(note=note).inc(n)
        for kind, n in counts.identity_events.items():
            metrics.identity_events.labels(kind=kind).inc(n)
        for (scope, status), n in counts.consent.items():
            metrics.consent_events.labels(scope=scope, status=status).inc(n)
        for signal, n in counts.nurture.items():
            metrics.nurture_signals.labels(signal=signal).inc(n)
        for (source_type, to_stage), n in counts.by_source.items():
            metrics.handovers_by_source.labels(source_type=source_type, to_stage=to_stage).inc(n)
