"""Lead agent: per-lead state in a RocksDB table; the core decides, this adapter writes and sends."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from leadstream.agents.dlq import log_unexpected, send_to_dlq
from leadstream.core.apply import apply, next_deadline
from leadstream.core.emitted import Counted, Duplicate, Rejected, Transition
from leadstream.core.messages import Tick, Touchpoint
from leadstream.core.scoring import behaviour_score
from leadstream.core.state import LeadState
from leadstream.streams.codecs import decode_message, decode_state, encode_state
from leadstream.streams.funnel import Bucket, bucket_of, decode_counts, encode_counts, shift, stats_key
from leadstream.streams.deadlines import decode_deadline, encode_deadline, index_update
from leadstream.streams.mappers import transition_to_handover

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
    metrics = pipeline.metrics

    def _index_deadline(key: bytes, state: LeadState, *, after_tick: bool) -> None:
        stored = deadlines.get(key)
        changed, due = index_update(
            decode_deadline(stored) if stored is not None else None,
            next_deadline(state, models),
            after_tick=after_tick,
        )
        if not changed:
            return
        if due is None:
            del deadlines[key]
        else:
            deadlines[key] = encode_deadline(due)
            index.push(key, due)

    def _count_leads(event: Any, before: Bucket | None, state: LeadState) -> None:
        after = bucket_of(state, models)
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
                if state is not None:
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
                    if item.trigger_event_id == getattr(message, "event_id", None) or \
                            item.trigger_event_id == getattr(message, "feedback_id", None):
                        _observe_latency(message, event.message.timestamp)
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
