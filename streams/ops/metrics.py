"""Prometheus metrics on an app-owned registry.

Every label value is a bounded code (touchpoint type, stage, grade, DLQ reason, topic, partition),
never an id, an email or a name. Times are in seconds. Gauges that describe the worker's state
(lag, leads per stage, readiness) are read at scrape time by :class:`StateCollector`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import (GC_COLLECTOR, PLATFORM_COLLECTOR, PROCESS_COLLECTOR, CollectorRegistry,
                               Counter, Histogram, generate_latest)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from leadstream.core.touchpoint_types import TOUCHPOINT_TYPES

__all__ = ["Metrics", "StateCollector", "type_label", "LATENCY_BUCKETS", "SCORE_BUCKETS"]

#: from a few ms (live) to a day (late or replayed touchpoints measured from event time)
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
                   300.0, 3600.0, 86400.0)
SCORE_BUCKETS = (0.0, 5.0, 10.0, 20.0, 30.0, 40.0, 50.0, 75.0, 100.0, 150.0, 200.0)


def type_label(value: object) -> str:
    """A touchpoint type as a label: known types as they are, anything else as ``unknown``."""
    return value if isinstance(value, str) and value in TOUCHPOINT_TYPES else "unknown"


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        # the process's own health (RSS, CPU seconds, open fds, GC): the registry is the app's,
        # so the default registry's collectors are added by hand. They describe this process
        # whichever registry holds them, so sharing prometheus_client's instances is safe.
        for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
            r.register(collector)
        self.ingest_records = Counter(
            "leadstream_ingest_records",
            "Input touchpoint records read by the ingest agent, by outcome (accepted, rejected).",
            ["outcome"], registry=r)
        self.touchpoints = Counter(
            "leadstream_touchpoints",
            "Touchpoints by type and outcome: scored, duplicate (event id seen before) or dlq.",
            ["type", "outcome"], registry=r)
        self.dlq_records = Counter(
            "leadstream_dlq_records",
            "Records published to the DLQ, by rejecting stage and reason code.",
            ["stage", "reason"], registry=r)
        self.transitions = Counter(
            "leadstream_stage_transitions",
            "Lifecycle transitions published to the handover topic (sla_breach: mql to mql).",
            ["from_stage", "to_stage"], registry=r)
        self.http_ingest_records = Counter(
            "leadstream_http_ingest_records",
            "Touchpoints posted to POST /touchpoints, by outcome (accepted: in Kafka; rejected: "
            "invalid, answered with the DLQ kind; failed: Kafka did not take them, 503).",
            ["outcome"], registry=r)
        self.shadow_transitions = Counter(
            "leadstream_shadow_transitions",
            "Stage transitions a shadow model would have made, published to the shadow topic "
            "only (compare with leadstream_stage_transitions_total).",
            ["model", "to_stage"], registry=r)
        self.handover_latency = Histogram(
            "leadstream_handover_latency_seconds",
            "Time from the triggering touchpoint to its handover record being produced, measured "
            "from the touchpoint's event time (since=event_time) or from ingest (since=ingest).",
            ["since"], buckets=LATENCY_BUCKETS, registry=r)
        self.behaviour_score = Histogram(
            "leadstream_behaviour_score",
            "The primary model's behaviour score of a lead after each batch in which it scored a "
            "touchpoint (once per lead and batch).",
            buckets=SCORE_BUCKETS, registry=r)
        self.ticks = Counter(
            "leadstream_ticks_sent",
            "Ticks sent to leads, by cause (deadline: SLA or going cold; model_change: sweep).",
            ["cause"], registry=r)
        self.identity_messages = Counter(
            "leadstream_identity_messages",
            "Messages one lead id sent another: linked (a visitor's history to its lead), merged, "
            "forwarded (input for a merged-away id), forwarded_at_ingest (a linked visitor's "
            "touchpoint that ingest sent to the lead itself), link_conflict (a cookie seen with a "
            "second contact: not merged), merge_offer, merge_retire, erase_alias.",
            ["note"], registry=r)
        self.identity_events = Counter(
            "leadstream_identity_events",
            "Identity events published on the handover topic (leads_merged, erased).",
            ["kind"], registry=r)
        self.consent_events = Counter(
            "leadstream_consent_events",
            "consent_changed events published on the handover topic, by scope (newsletter, "
            "marketing, all, email) and status (opted_out, opted_in, bounced).",
            ["scope", "status"], registry=r)
        self.nurture_signals = Counter(
            "leadstream_nurture_signals",
            "Nurture signals published on the nurture topic, by signal (recycled, went_cold, "
            "stalled).",
            ["signal"], registry=r)
        self.handovers_by_source = Counter(
            "leadstream_handovers_by_source_type",
            "Stage transitions published, by the lead's source type (spears, seeds, nets) and the "
            "stage entered: MQLs by source type are to_stage=\"mql\".",
            ["source_type", "to_stage"], registry=r)
        self.account_engagements = Counter(
            "leadstream_account_engagements",
            "account_engaged events published on the handover topic (marketing-qualified "
            "accounts).", registry=r)
        self.state_cache = Counter(
            "leadstream_state_cache_lookups",
            "Lead states the lead handler looked up in its cache of decoded states, by outcome "
            "(hit; miss: read from RocksDB and decoded). Size the cache with state.cache_leads.",
            ["outcome"], registry=r)
        self.errors = Counter(
            "leadstream_errors",
            "Unexpected errors by kind (the record involved went to the DLQ where there was one).",
            ["kind"], registry=r)

    def add_state_collector(self, collector: StateCollector) -> None:
        self.registry.register(collector)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class StateCollector(Collector):
    """Gauges read from the running worker at scrape time; the callables return plain data."""

    def __init__(
        self,
        *,
        lag: Callable[[], dict[tuple[str, int], int]],
        leads: Callable[[], tuple[dict[str, int], dict[str, int]]],
        ready: Callable[[], bool],
        recovering: Callable[[], bool],
        assigned: Callable[[], int],
    ) -> None:
        self._lag, self._leads, self._ready = lag, leads, ready
        self._recovering, self._assigned = recovering, assigned

    def describe(self) -> list[Any]:
        return []  # collected only at scrape; nothing to check at registration

    def collect(self) -> Iterator[GaugeMetricFamily]:
        lag = GaugeMetricFamily(
            "leadstream_consumer_lag",
            "Records not yet processed and committed, per input partition of this worker.",
            labels=["topic", "partition"])
        for (topic, partition), value in sorted(self._lag().items()):
            lag.add_metric([topic, str(partition)], value)
        yield lag
        by_stage, by_grade = self._leads()
        stage = GaugeMetricFamily(
            "leadstream_leads", "Leads per lifecycle stage on this worker's partitions.",
            labels=["stage"])
        for name, count in sorted(by_stage.items()):
            stage.add_metric([name], count)
        yield stage
        grade = GaugeMetricFamily(
            "leadstream_leads_by_grade",
            "Known leads (not visitors) per fit grade on this worker's partitions.",
            labels=["grade"])
        for name, count in sorted(by_grade.items()):
            grade.add_metric([name], count)
        yield grade
        yield GaugeMetricFamily(
            "leadstream_ready", "1 when partitions are assigned and table recovery is done.",
            value=1.0 if self._ready() else 0.0)
        yield GaugeMetricFamily(
            "leadstream_table_recovery_in_progress",
            "1 while the worker rebuilds its tables from their changelogs.",
            value=1.0 if self._recovering() else 0.0)
        yield GaugeMetricFamily(
            "leadstream_assigned_partitions", "Lead partitions this worker processes.",
            value=float(self._assigned()))
