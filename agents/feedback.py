"""Feedback agent: validate CRM verdicts and hand them to the lead agent, keyed by lead id."""

from __future__ import annotations

from typing import TYPE_CHECKING

from leadstream.agents.keying import register_keying
from leadstream.core.messages import Feedback
from leadstream.schemas.feedback import parse_feedback
from leadstream.streams.encoding.mappers import feedback_to_core

if TYPE_CHECKING:
    from leadstream.streams.pipeline import Pipeline

__all__ = ["register_feedback"]


def register_feedback(pipeline: Pipeline) -> None:
    max_bytes = pipeline.settings.max_message_bytes

    def to_core(raw: bytes) -> Feedback:
        return feedback_to_core(parse_feedback(raw, max_bytes=max_bytes))

    register_keying(
        pipeline, pipeline.feedback, stage="feedback", to_core=to_core
    )
