"""Ingest agent: validate every touchpoint record, key it by canonical lead id, or reject it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from leadstream.agents.keying import register_keying_agent
from leadstream.core.messages import Touchpoint
from leadstream.schemas.touchpoints import parse_touchpoint
from leadstream.streams.mappers import touchpoint_to_core

if TYPE_CHECKING:
    from leadstream.streams.app import Pipeline

__all__ = ["register_ingest"]


def register_ingest(pipeline: Pipeline) -> None:
    max_bytes = pipeline.settings.max_message_bytes
    counter = pipeline.metrics.ingest_records

    def to_core(raw: bytes) -> Touchpoint:
        return touchpoint_to_core(parse_touchpoint(raw, max_bytes=max_bytes))

    register_keying_agent(
        pipeline, pipeline.touchpoints, name="leadstream.ingest", stage="ingest",
        to_core=to_core, on_outcome=lambda outcome: counter.labels(outcome=outcome).inc(),
    )
