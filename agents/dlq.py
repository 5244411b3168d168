"""Rejected records to the DLQ (shared by every handler), and failure logs without PII."""

from __future__ import annotations

import base64
import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from leadstream.streams.encoding.mappers import dlq_record

if TYPE_CHECKING:
    from leadstream.streams.lane import FetchCommit, InputRecord
    from leadstream.streams.ops.metrics import Metrics
    from leadstream.streams.pipeline import Pipeline

__all__ = ["reject", "dlq_value", "note_rejected", "log_unexpected", "DlqLog", "origin_of",
           "OriginRecord"]

log = logging.getLogger(__name__)


class DlqLog:
    """At most one log line per stage and DLQ kind every ``interval_s``, naming how many records
    of that kind it left out since the previous line.

    A producer that sends garbage must not flood the log nor spend the worker's CPU on it;
    every record's position and reason is in its DLQ
    record, and the counts are in ``leadstream_dlq_records_total``. Keys are bounded codes.
    """

    def __init__(self, interval_s: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._interval = interval_s
        self._clock = clock
        self._last: dict[tuple[str, str], float] = {}
        self._left_out: Counter[tuple[str, str]] = Counter()

    def record(self, record: InputRecord, *, stage: str, kind: str, reason: str) -> None:
        key = (stage, kind)
        now = self._clock()
        last = self._last.get(key)
        if last is not None and now - last < self._interval:
            self._left_out[key] += 1
            return
        self._last[key] = now
        left_out = self._left_out.pop(key, 0)
        more = f" (+{left_out} more {kind} in {stage} since the last line)" if left_out else ""
        # topic/partition/offset identify the record; its content may hold PII and is not logged
        log.info("DLQ %s %s[%s]@%s: %s%s", kind, record.topic, record.partition, record.offset,
                 reason, more)


_dlq_log = DlqLog()


def _headers(record: InputRecord) -> list[tuple[str, bytes | None]]:
    headers = record.headers or []
    items = headers.items() if isinstance(headers, dict) else headers
    return [(str(k), v if isinstance(v, bytes | None) else str(v).encode()) for k, v in items]


def origin_of(record: InputRecord) -> dict[str, Any]:
    """An input record as a message carries it to the lead agent (``Feedback.origin`` and the
    merge messages'), so a refusal there sends the DLQ what the producer sent."""
    return {"t": record.topic, "p": record.partition, "o": record.offset, "ts": record.timestamp,
            "k": _b64(record.key), "v": _b64(record.value),
            "h": [[name, _b64(value)] for name, value in _headers(record)]}


def _b64(value: bytes | None) -> str | None:
    return None if value is None else base64.b64encode(value).decode("ascii")


def _unb64(value: str | None) -> bytes | None:
    return None if value is None else base64.b64decode(value)


@dataclass(frozen=True, slots=True)
class OriginRecord:
    """The input record an ``origin`` describes (an :class:`InputRecord`)."""

    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]]

    @classmethod
    def of(cls, origin: Mapping[str, Any]) -> OriginRecord:
        return cls(origin["t"], origin["p"], origin["o"], origin["ts"], _unb64(origin["k"]),
                   _unb64(origin["v"]), [(name, _unb64(value)) for name, value in origin["h"]])


def dlq_value(record: InputRecord, *, stage: str, kind: str, reason: str,
              rejected_id: str | None = None) -> bytes:
    """The DLQ record for an input ``record``: its original bytes, position and headers, with
    the kind and reason."""
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
        rejected_id=rejected_id,
    )
    return entry.model_dump_json().encode()


def note_rejected(metrics: Metrics, record: InputRecord, *, stage: str, kind: str,
                  reason: str) -> None:
    """Count a rejected record and log its position (rate-limited, no content)."""
    metrics.dlq_records.labels(stage=stage, reason=kind).inc()
    _dlq_log.record(record, stage=stage, kind=kind, reason=reason)


def reject(pipeline: Pipeline, commit: FetchCommit, record: InputRecord, *, stage: str,
           kind: str, reason: str, rejected_id: str | None = None) -> None:
    """Queue the DLQ record for ``record`` as an output of the fetch, count and log it."""
    commit.output(pipeline.dlq.get_topic_name(), record.key,
                  dlq_value(record, stage=stage, kind=kind, reason=reason,
                            rejected_id=rejected_id))
    note_rejected(pipeline.metrics, record, stage=stage, kind=kind, reason=reason)


def log_unexpected(logger: logging.Logger, where: str, record: InputRecord,
                   exc: BaseException) -> None:
    """Log a failure by record position and code location only: an exception's message can
    quote the record (names, emails), so it is not logged; the record itself is in the DLQ."""
    frame = exc.__traceback__
    while frame is not None and frame.tb_next is not None:
        frame = frame.tb_next
    location = (f"{frame.tb_frame.f_code.co_filename}:{frame.tb_lineno}"
                if frame is not None else "?")
    logger.error("%s failed on %s[%s]@%s: %s at %s", where, record.topic, record.partition,
                 record.offset, type(exc).__name__, location)
