"""Rejected records to the DLQ (shared by every handler), and failure logs without PII."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from leadstream.streams.mappers import dlq_record
from leadstream.streams.outbox import Outbox

if TYPE_CHECKING:
    from leadstream.streams.app import Pipeline

__all__ = ["reject", "log_unexpected"]

log = logging.getLogger(__name__)


def _headers(record: Any) -> list[tuple[str, bytes | None]]:
    headers = record.headers or []
    items = headers.items() if isinstance(headers, dict) else headers
    return [(str(k), v if isinstance(v, bytes | None) else str(v).encode()) for k, v in items]


def reject(pipeline: Pipeline, outbox: Outbox, record: Any, *, stage: str, kind: str,
           reason: str) -> None:
    """Queue the DLQ record for an input ``record`` (an aiokafka ``ConsumerRecord``): its
    original bytes, position and headers, with the kind and reason."""
    entry = dlq_record(
        kind=kind,
        reason=reason,
        stage=stage,
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        timestamp_ms=record.timestamp,
        key=record.key,
        value=record.value,
        headers=_headers(record),
    )
    outbox.add(pipeline.dlq.get_topic_name(), record.key, entry.model_dump_json().encode())
    pipeline.metrics.dlq_records.labels(stage=stage, reason=kind).inc()
    # topic/partition/offset identify the record; its content may hold PII and is not logged
    log.info("DLQ %s %s[%s]@%s: %s", kind, record.topic, record.partition, record.offset, reason)


def log_unexpected(logger: logging.Logger, where: str, record: Any, exc: BaseException) -> None:
    """Log a failure by record position and code location only: an exception's message can
    quote the record (names, emails), so it is not logged; the record itself is in the DLQ."""
    frame = exc.__traceback__
    while frame is not None and frame.tb_next is not None:
        frame = frame.tb_next
    location = (f"{frame.tb_frame.f_code.co_filename}:{frame.tb_lineno}"
                if frame is not None else "?")
    logger.error("%s failed on %s[%s]@%s: %s at %s", where, record.topic, record.partition,
                 record.offset, type(exc).__name__, location)
