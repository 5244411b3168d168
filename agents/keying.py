"""The shape ingest and feedback share: validate a raw record, key it by lead, or reject it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from leadstream.agents.dlq import log_unexpected, send_to_dlq
from leadstream.core.messages import Feedback, Touchpoint
from leadstream.exceptions import RejectedMessage
from leadstream.streams.codecs import encode_message

if TYPE_CHECKING:
    from faust.types import TopicT

    from leadstream.streams.app import Pipeline

__all__ = ["register_keying_agent"]

log = logging.getLogger(__name__)


def register_keying_agent(
    pipeline: Pipeline,
    source: TopicT,
    *,
    name: str,
    stage: str,
    to_core: Callable[[bytes], Touchpoint | Feedback],
    on_outcome: Callable[[str, bytes], None] = lambda outcome, raw: None,
) -> None:
    """An agent that forwards ``to_core(value)`` to the lead-messages topic keyed by lead id.

    ``to_core`` raises :class:`RejectedMessage` for bad input (→ DLQ with its kind and reason);
    any other exception is a poison record (→ DLQ as ``internal_error``); the stream goes on.
    ``concurrency=1`` keeps each input partition's order into the lead topic.
    """
    out = pipeline.lead_messages

    @pipeline.app.agent(source, name=name, concurrency=1)
    async def keying(stream: Any) -> None:
        async for event in stream.events():
            try:
                message = to_core(event.value or b"")
            except RejectedMessage as rejected:
                on_outcome("rejected", event.value or b"")
                await send_to_dlq(pipeline, event, stage=stage, kind=rejected.kind,
                                  reason=rejected.reason)
                continue
            except Exception as exc:
                log_unexpected(log, stage, event, exc)
                pipeline.metrics.errors.labels(kind="validate").inc()
                on_outcome("rejected", event.value or b"")
                await send_to_dlq(pipeline, event, stage=stage, kind="internal_error",
                                  reason=f"unexpected {type(exc).__name__} while validating")
                continue
            await out.send(key=message.lead_id.encode(), value=encode_message(message))
            on_outcome("accepted", b"")
