"""The shape ingest, feedback and commands share: validate raw records, key them by lead, or
reject them — a batch at a time on the batch lane."""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING

from leadstream.agents.dlq import log_unexpected, origin_of, reject
from leadstream.core.messages import Feedback, Link, MergeRequest, Message, Touchpoint
from leadstream.exceptions import RejectedMessage
from leadstream.streams.encoding.codecs import encode_message
from leadstream.streams.lane import FetchCommit, InputRecord, Partition

if TYPE_CHECKING:
    from faust.types import TopicT

    from leadstream.streams.pipeline import Pipeline

__all__ = ["register_keying"]

log = logging.getLogger(__name__)


def register_keying(
    pipeline: Pipeline,
    source: TopicT,
    *,
    stage: str,
    to_core: Callable[[bytes], Message],
    on_rejected: Callable[[bytes], None] = lambda raw: None,
    on_accepted: Callable[[int], None] = lambda count: None,
    route: Callable[[Message], tuple[Message, str | None]] | None = None,
    keep_origin: bool = False,
    old_before: Callable[[], float] | None = None,
) -> None:
    """Forward ``to_core(value)`` of every record of ``source`` to the lead-messages topic keyed
    by lead id, in input order per partition.

    ``to_core`` raises :class:`RejectedMessage` for bad input (→ DLQ with its kind and reason);
    any other exception is a poison record (→ DLQ as ``internal_error``); the batch goes on.
    ``on_rejected`` hears of each rejected record, ``on_accepted`` of the count per batch (once:
    a metric update per record showed in profiles). ``route`` may send a message elsewhere than
    to its lead id (ingest's shortcut for linked visitors), with an identity note to count.
    ``keep_origin``: the message carries its input record (``origin``), so that a refusal by
    the lead agent sends the DLQ the producer's bytes (verdicts and commands: few and small).
    ``old_before``: the event time (asked once per batch) before which a touchpoint could be
    refused as too late; only such a touchpoint carries its input record (ingest: carrying it
    on every touchpoint would double the internal topic's bytes for a rare refusal).
    """
    out = pipeline.lead_messages.get_topic_name()
    metrics = pipeline.metrics

    async def keying(tp: Partition, records: list[InputRecord], commit: FetchCommit) -> None:
        accepted = 0
        cutoff = old_before() if old_before is not None else None
        notes: Counter[str] = Counter()
        for record in records:
            raw: bytes = record.value or b""
            try:
                message = to_core(raw)
            except RejectedMessage as rejected:
                on_rejected(raw)
                reject(pipeline, commit, record, stage=stage, kind=rejected.kind,
                       reason=rejected.reason)
                continue
            except Exception as exc:
                log_unexpected(log, stage, record, exc)
                metrics.errors.labels(kind="validate").inc()
                on_rejected(raw)
                reject(pipeline, commit, record, stage=stage, kind="internal_error",
                       reason=f"unexpected {type(exc).__name__} while validating")
                continue
            if keep_origin and isinstance(message, Feedback | MergeRequest):
                message = dataclasses.replace(message, origin=origin_of(record))
            elif cutoff is not None:
                message = _origin_if_old(message, record, cutoff)
            if route is not None:
                message, note = route(message)
                if note is not None:
                    notes[note] += 1
            commit.output(out, message.lead_id.encode(), encode_message(message))
            accepted += 1
        if accepted:
            on_accepted(accepted)
        for note, n in notes.items():
            metrics.identity_messages.labels(note=note).inc(n)

    pipeline.lane.subscribe(pipeline.app, source, keying)


def _origin_if_old(message: Message, record: InputRecord, cutoff: float) -> Message:
    if isinstance(message, Touchpoint):
        if message.occurred_at < cutoff:
            return dataclasses.replace(message, origin=origin_of(record))
    elif isinstance(message, Link) and message.touchpoint.occurred_at < cutoff:
        return dataclasses.replace(message, touchpoint=dataclasses.replace(
            message.touchpoint, origin=origin_of(record)))
    return message
