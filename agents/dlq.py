"""Publishing a rejected record to the DLQ (shared by every agent)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from leadstream.streams.mappers import dlq_record

if TYPE_CHECKING:
    from leadstream.streams.app import Pipeline

__all__ = ["send_to_dlq", "log_unexpected"]

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
    pipeline.metrics.dlq_records.labels(stage=stage, reason=kind).inc()
    # topic/partition/offset identify the record; its content may hold PII and is not logged
    log.info(
        "DLQ %s %s[%s]@%s: %s", kind, message.topic, message.partition, message.offset, reason
    )


def log_unexpected(logger: logging.Logger, where: str, event: Any, exc: BaseException) -> None:
    """Log a failure by record position and code location only: an exception's message can
    quote the record (names, emails), so it is not logged; the record itself is in the DLQ."""
    frame = exc.__traceback__
    while frame is not None and frame.tb_next is not None:
        frame = frame.tb_next
    location = (f"{frame.tb_frame.f_code.co_filename}:{frame.tb_lineno}"
                if frame is not None else "?")
    message = event.message
    logger.error("%s failed on %s[%s]@%s: %s at %s", where, message.topic, message.partition,
                 message.offset, type(exc).__name__, location)
