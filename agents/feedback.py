"""Feedback agent: validate CRM verdicts and hand them to the lead agent, keyed by lead id."""

from __future__ import annotations

from typing import TYPE_CHECKING

from leadstream.agents.keying import register_keying
from leadstream.streams.encoding.inputs import InputDecoder

if TYPE_CHECKING:
    from leadstream.streams.pipeline import Pipeline

__all__ = ["register_feedback"]


def register_feedback(pipeline: Pipeline) -> None:
    decoder = InputDecoder(pipeline.settings.hygiene, pipeline.settings.max_message_bytes)
    register_keying(pipeline, pipeline.feedback, stage="feedback", to_core=decoder.feedback,
                    keep_origin=True)
