"""Feedback agent: validate CRM verdicts and hand them to the lead agent, keyed by lead id."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from leadstream.agents.dlq import send_to_dlq
from leadstream.exceptions import RejectedMessage
from leadstream.schemas.feedback import parse_feedback
from leadstream.streams.codecs import encode_message
from leadstream.streams.mappers import feedback_to_core

if TYPE_CHECKING:
    from leadstream.streams.app import Pipeline

__all__ = ["register_feedback"]

log = logging.getLogger(__name__)


def register_feedback(pipeline: Pipeline) -> None:
    max_bytes = pipeline.settings.max_message_bytes
    out = pipeline.lead_messages

    @pipeline.app.agent(pipeline.feedback, name="leadstream.feedback", concurrency=1)
    async def feedback(stream: Any) -> None:
        async for event in stream.events():
            try:
                verdict = feedback_to_core(parse_feedback(event.value or b"", max_bytes=max_bytes))
            except RejectedMessage as rejected:
                await send_to_dlq(pipeline, event, stage="feedback", kind=rejected.kind,
                                  reason=rejected.reason)
                continue
            except Exception as exc:  # a poison record must never stop the stream
                log.exception("feedback failed on %s[%s]@%s", event.message.topic,
                              event.message.partition, event.message.offset)
                await send_to_dlq(pipeline, event, stage="feedback", kind="internal_error",
                                  reason=f"unexpected {type(exc).__name__} while validating")
                continue
            await out.send(key=verdict.lead_id.encode(), value=encode_message(verdict))
