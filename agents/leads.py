"""Lead agent: per-lead state in a RocksDB table; the core decides, this adapter writes and sends."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from leadstream.agents.dlq import send_to_dlq
from leadstream.core.apply import apply, next_deadline
from leadstream.core.emitted import Counted, Duplicate, Rejected, Transition
from leadstream.core.messages import Tick
from leadstream.core.state import LeadState
from leadstream.streams.codecs import decode_message, decode_state, encode_state
from leadstream.streams.deadlines import decode_deadline, encode_deadline, index_update
from leadstream.streams.mappers import transition_to_handover

if TYPE_CHECKING:
    from leadstream.streams.app import Pipeline

__all__ = ["register_leads"]

log = logging.getLogger(__name__)


def register_leads(pipeline: Pipeline) -> None:
    table = pipeline.leads
    deadlines = pipeline.deadlines
    index = pipeline.deadline_index
    models = pipeline.models
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

    # Stateful: concurrency must stay 1, and the table is written only inside the iteration.
    @pipeline.app.agent(pipeline.lead_messages, name="leadstream.leads", concurrency=1)
    async def leads(stream: Any) -> None:
        async for event in stream.events():
            key: bytes = event.key
            try:
                message = decode_message(event.value)
                stored = table.get(key)
                state, emitted = apply(
                    decode_state(stored) if stored is not None else None, message, models
                )
                if state is not None:
                    # Written on duplicates too: after a crash the local store may hold an
                    # update whose changelog record was never sent; rewriting sends it.
                    table[key] = encode_state(state)
                    _index_deadline(key, state, after_tick=isinstance(message, Tick))
            except Exception as exc:  # a poison record must never stop the stream
                log.exception("lead agent failed on %s[%s]@%s", event.message.topic,
                              event.message.partition, event.message.offset)
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
                elif isinstance(item, Counted):
                    metrics.touchpoints.labels(type=item.type, outcome="scored").inc()
                elif isinstance(item, Duplicate):
                    metrics.touchpoints.labels(type=item.type, outcome="duplicate").inc()
                elif isinstance(item, Rejected):
                    await send_to_dlq(pipeline, event, stage="leads", kind=item.kind,
                                      reason=item.reason)
