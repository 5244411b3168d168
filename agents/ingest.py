"""Ingest agent: validate every touchpoint record, filter bots and internal traffic, key it by
canonical lead id (or by visitor, to link one), or reject it."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import orjson

from leadstream.agents.keying import register_keying
from leadstream.streams.encoding.inputs import InputDecoder
from leadstream.streams.ops.metrics import type_label

if TYPE_CHECKING:
    from leadstream.streams.pipeline import Pipeline

__all__ = ["register_ingest"]


def register_ingest(pipeline: Pipeline) -> None:
    metrics = pipeline.metrics
    decoder = InputDecoder(pipeline.settings.hygiene, pipeline.settings.max_message_bytes)

    accepted = metrics.ingest_records.labels(outcome="accepted")
    rejected = metrics.ingest_records.labels(outcome="rejected")

    def on_rejected(raw: bytes) -> None:
        rejected.inc()
        metrics.touchpoints.labels(type=type_label(_declared_type(raw)), outcome="dlq").inc()

    # a touchpoint is too late when it is max_lateness_days older than its lead's newest one,
    # and no touchpoint is newer than max_future_s from now: only one older than the difference
    # can be refused so
    margin = (pipeline.models.primary.lifecycle.max_lateness_days * 86_400
              - pipeline.settings.hygiene.max_future_s)

    register_keying(
        pipeline, pipeline.touchpoints, stage="ingest",
        to_core=decoder.touchpoint, on_rejected=on_rejected, on_accepted=accepted.inc,
        route=pipeline.shortcut.route if pipeline.settings.identity.forward_at_ingest else None,
        old_before=lambda: time.time() - margin,
    )


def _declared_type(raw: bytes) -> object:
    """The ``type`` a rejected record claims, if it is readable at all (for the metric label)."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return data.get("type") if isinstance(data, dict) else None
