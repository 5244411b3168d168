"""Lead agent: per-lead state in a RocksDB table; the core decides, this adapter writes and sends."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from leadstream.agents.dlq import log_unexpected, send_to_dlq
from leadstream.core.apply import apply, next_deadline
from leadstream.core.emitted import (
    Counted,
    Delete,
    Duplicate,
    Emitted,
    Erased,
    LeadsMerged,
    Rejected,
    Send,
    Transition,
)
from leadstream.core.messages import Absorb, Tick, Touchpoint
from leadstream.core.scoring import behaviour_score
from leadstream.core.state import LeadState
from leadstream.streams.codecs import decode_message, decode_state, encode_message, encode_state
from leadstream.streams.funnel import Bucket, bucket_of, decode_counts, encode_counts, shift, stats_key
from leadstream.streams.deadlines import decode_deadline, encode_deadline, index_update
from leadstream.streams.mappers import erased_to_handover, merged_to_handover, transition_to_handover

if TYPE_CHECKING:
    from leadstream.streams.app import Pipeline

__all__ = ["register_leads"]

log = logging.getLogger(__name__)


def register_leads(pipeline: Pipeline) -> None:
    table = pipeline.leads
    stats = pipeline.stats
    deadlines = pipeline.deadlines
    index = pipeline.deadline_index
    models = pipeline.models
    primary = models.primary
    handover = pipeline.handover
    lead_messages = pipeline.lead_messages
    metrics = pipeline.metrics
    producer = pipeline.app.producer

    def _index_deadline(key: bytes, state: LeadState | None, *, after_tick: bool) -> None:
        stored = deadlines.get(key)
        live = state is not None and state.merged_into is None
        changed, due = index_update(
            decode_deadline(stored) if stored is not None else None,
            next_deadline(state, models) if live else None,  # type: ignore[arg-type]
            after_tick=after_tick or not live,
        )
        if not changed:
            return
        if due is None:
            del deadlines[key]
        else:
            deadlines[key] = encode_deadline(due)
            index.push(key, due)

    def _count_leads(event: Any, before: Bucket | None, state: LeadState | None) -> None:
        after = bucket_of(state, models) if state is not None else None
        if after == before:
            return
        key = stats_key(event.message.partition)
        counts = decode_counts(stats.get(key))
        shift(counts, before, after)
        stats[key] = encode_counts(counts)

    def _observe_latency(message: Any, ingested_at: float | None) -> None:
        if isinstance(message, Tick):
            return
        now = time.time()
        metrics.handover_latency.labels(since="event_time").observe(max(0.0, now - message.occurred_at))
        if ingested_at:
            metrics.handover_latency.labels(since="ingest").observe(max(0.0, now - ingested_at))

    async def _send_first(emitted: list[Emitted]) -> None:
        """Messages to other ids, and erasure events, go out before this id's state is stored;
        when the state must not outrun them (a hand-over, an erasure) they are flushed first."""
        durable = False
        for item in emitted:
            if isinstance(item, Send):
                target = item.message.lead_id
                await lead_messages.send(key=target.encode(), value=encode_message(item.message))
                metrics.identity_messages.labels(note=item.note).inc()
                durable = durable or item.before_state
            elif isinstance(item, Erased):
                record = erased_to_handover(item).model_dump_json().encode()
                await handover.send(key=item.lead_id.encode(), value=record)
                metrics.identity_events.labels(kind="erased").inc()
                durable = True
        if durable:
            await producer.flush()

    # Stateful: concurrency must stay 1, and the tables are written only inside the iteration.
    @pipeline.app.agent(pipeline.lead_messages, name="leadstream.leads", concurrency=1)
    async def leads(stream: Any) -> None:
        async for event in stream.events():
            key: bytes = event.key
            try:
                message = decode_message(event.value)
                stored = table.get(key)
                previous = decode_state(stored) if stored is not None else None
                before = bucket_of(previous, models) if previous is not None else None
                state, emitted = apply(previous, message, models)
                await _send_first(emitted)
                if any(isinstance(item, Delete) for item in emitted):
                    if key in table:
                        del table[key]  # a tombstone in the changelog
                    _index_deadline(key, None, after_tick=True)
                    _count_leads(event, before, None)
                elif state is not None:
                    # Written on duplicates too: after a crash the local store may hold an
                    # update whose changelog record was never sent; rewriting sends it.
                    table[key] = encode_state(state)
                    _index_deadline(key, state, after_tick=isinstance(message, Tick))
                    _count_leads(event, before, state)
            except Exception as exc:  # a poison record must never stop the stream
                log_unexpected(log, "lead agent", event, exc)
                metrics.errors.labels(kind="apply").inc()
                await send_to_dlq(pipeline, event, stage="leads", kind="internal_error",
                                  reason=f"unexpected {type(exc).__name__} while applying")
                continue
            for item in emitted:
                if isinstance(item, Transition):
                    record = transition_to_handover(item).model_dump_json().encode()
                    await handover.send(key=key, value=record)
                    metrics.transitions.labels(
                        from_stage=item.from_stage, to_stage=item.to_stage
                    ).inc()
                    source = message.then if isinstance(message, Absorb) else message
                    if item.trigger_event_id == getattr(source, "event_id", None) or \
                            item.trigger_event_id == getattr(source, "feedback_id", None):
                        _observe_latency(source, event.message.timestamp)
                elif isinstance(item, Counted):
                    metrics.touchpoints.labels(type=item.type, outcome="scored").inc()
                    if state is not None and isinstance(message, Touchpoint):
                        metrics.behaviour_score.observe(
                            behaviour_score(state.components.get(primary.name, {}), primary,
                                            message.occurred_at))
                elif isinstance(item, Duplicate):
                    metrics.touchpoints.labels(type=item.type, outcome="duplicate").inc()
                elif isinstance(item, Rejected):
                    await send_to_dlq(pipeline, event, stage="leads", kind=item.kind,
                                      reason=item.reason)
                elif isinstance(item, LeadsMerged):
                    record = merged_to_handover(item).model_dump_json().encode()
                    await handover.send(key=item.survivor.encode(), value=record)
                    metrics.identity_events.labels(kind="leads_merged").inc()
