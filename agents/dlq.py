"""Publishing a rejected record to the DLQ (shared by every agent)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from leadstream.streams.mappers import dlq_record

if TYPE_CHECKING:
    from leadstream.streams.app import Pipeline

__all__ = ["send_to_dlq"]

log = logging.getLogger(__name__)


def _headers(message: Any) -> list[tuple[str, bytes | None]]:
    headers = message.headers or []
    items = headers.items() if isinstance(headers, dict) else headers
    return [(str(k), v if isinstance(v, bytes | None) else str(v).encode()) for k, v in items]


async def send_to_dlq(pipeline: Pipeline, event: Any, *, stage: str, kind: str, reason: str) -> None:
    message = event.message
    record = dlq_record(
        kind=kind,
        reason=reason,
        stage=stage,
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        timestamp_ms=int(message.timestamp * 1000) if message.timestamp else None,
        key=message.key,
        value=message.value,
        headers=_headers(message),
    )
    await pipeline.dlq.send(key=message.key, value=record.model_dump_json().encode())
    pipeline.metrics.dlq_records.labels(stage=stage, kind=kind).inc()
    # topic/partition/offset identify the record; its content may hold PII and is not logged
    log.info(
        "DLQ %s %s[%s]@%s: %s", kind, message.topic, message.partition, message.offset, reason
    )
