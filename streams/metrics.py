"""Prometheus metrics on an app-owned registry. Label values are bounded codes, never PII."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, generate_latest

__all__ = ["Metrics"]


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.ingest_records = Counter(
            "leadstream_ingest_records",
            "Input records read by the ingest agent, by outcome (accepted, rejected).",
            ["outcome"],
            registry=self.registry,
        )
        self.touchpoints = Counter(
            "leadstream_touchpoints",
            "Touchpoints handled by the lead agent, by type and outcome (scored, duplicate).",
            ["type", "outcome"],
            registry=self.registry,
        )
        self.dlq_records = Counter(
            "leadstream_dlq_records",
            "Records published to the DLQ, by rejecting stage and kind.",
            ["stage", "kind"],
            registry=self.registry,
        )
        self.transitions = Counter(
            "leadstream_stage_transitions",
            "Lifecycle transitions published to the handover topic.",
            ["from_stage", "to_stage"],
            registry=self.registry,
        )

        self.ticks = Counter(
            "leadstream_ticks_sent",
            "Ticks sent to leads, by cause (deadline: SLA or going cold; model_change: sweep).",
            ["cause"],
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
