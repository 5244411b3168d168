"""Ingest agent: validate every input record, key it by canonical lead id, or reject it."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from leadstream.agents.dlq import send_to_dlq
from leadstream.exceptions import RejectedMessage
from leadstream.schemas.touchpoints import parse_touchpoint
from leadstream.streams.codecs import encode_touchpoint
from leadstream.streams.mappers import touchpoint_to_core

if TYPE_CHECKING:
    from leadstream.streams.app import Pipeline

__all__ = ["register_ingest"]

log = logging.getLogger(__name__)


def register_ingest(pipeline: Pipeline) -> None:
    max_bytes = pipeline.settings.max_message_bytes
    out = pipeline.lead_messages
    counter = pipeline.metrics.ingest_records

    # concurrency=1 keeps each input partition's order into the lead topic
    @pipeline.app.agent(pipeline.touchpoints, name="leadstream.ingest", concurrency=1)
    async def ingest(stream: Any) -> None:
        async for event in stream.events():
            try:
                touchpoint = touchpoint_to_core(parse_touchpoint(event.value or b"", max_bytes=max_bytes))
            except RejectedMessage as rejected:
                counter.labels(outcome="rejected").inc()
                await send_to_dlq(
                    pipeline, event, stage="ingest", kind=rejected.kind, reason=rejected.reason
                )
                continue
            except Exception as exc:  # a poison record must never stop the stream
                log.exception("ingest failed on %s[%s]@%s", event.message.topic,
                              event.message.partition, event.message.offset)
                counter.labels(outcome="rejected").inc()
                await send_to_dlq(pipeline, event, stage="ingest", kind="internal_error",
                                  reason=f"unexpected {type(exc).__name__} while validating")
                continue
            await out.send(key=touchpoint.lead_id.encode(), value=encode_touchpoint(touchpoint))
            counter.labels(outcome="accepted").inc()
