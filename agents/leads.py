"""Lead handler: per-lead state in a RocksDB table; the core decides, this adapter writes and sends.

It runs on the batch lane (streams/batch_lane.py): one call per fetched batch of one lead-messages
partition, so one partition is never handled twice at once (what ``concurrency=1`` gives an
agent). Within a batch each lead's state is decoded once, updated by every message in order, and
written once at the end with one changelog record (streams/table_buffer.py).

Order of effects per batch, for crash safety:
1. messages to other ids that this state must not outrun (a visitor's hand-over to its lead) and
   erasure events go first: when the lane sends the fetch's outputs, it sends these and waits until
   the broker has them (``Outbox.after``: one wait per fetch, not per batch); only then
2. the states are written (RocksDB + changelog), and
3. everything else (handovers, DLQ) is queued; the batch lane commits the input offsets only when
   all of it is written. A crash anywhere replays the batch; the per-lead dedupe window and the
   deterministic transition ids make the replay a no-op apart from re-published handovers.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from leadstream.agents.dlq import log_unexpected, reject
from leadstream.core.apply import apply, next_deadline
from leadstream.core.emitted import (
    Counted,
    Delete,
    Duplicate,
    Erased,
    LeadsMerged,
    Rejected,
    Send,
    Transition,
)
from leadstream.core.messages import Absorb, Message, Tick, Touchpoint
from leadstream.core.scoring import behaviour_score
from leadstream.exceptions import StateVersionError
from leadstream.streams.codecs import (
    decode_generation,
    decode_message,
    decode_state,
    encode_generation,
    encode_message,
    encode_state,
    erased_key,
)
from leadstream.streams.deadlines import decode_deadline, encode_deadline, index_update
from leadstream.streams.funnel import bucket_of, decode_counts, encode_counts, shift, stats_key
from leadstream.streams.mappers import (
    erased_to_handover,
    merged_to_handover,
    transition_to_handover_json,
)
from leadstream.streams.outbox import Outbox
from leadstream.streams.table_buffer import TableBuffer

if TYPE_CHECKING:
    from leadstream.streams.app import Pipeline

__all__ = ["register_leads"]

log = logging.getLogger(__name__)

_GONE = object()  # a state deleted in this batch


def register_leads(pipeline: Pipeline) -> None:
    models = pipeline.models
    primary = models.primary
    metrics = pipeline.metrics
    index = pipeline.deadline_index
    handover = pipeline.handover.get_topic_name()
    lead_messages = pipeline.lead_messages.get_topic_name()
    cache = pipeline.state_cache
    reached = pipeline.shortcut.reached
    since_event = metrics.handover_latency.labels(since="event_time")
    since_ingest = metrics.handover_latency.labels(since="ingest")
    cache_hits = metrics.state_cache.labels(outcome="hit")
    cache_misses = metrics.state_cache.labels(outcome="miss")

    def _observe_latency(message: Any, ingested_ms: int | None) -> None:
        if isinstance(message, Tick):
            return
        now = time.time()
        since_event.observe(max(0.0, now - message.occurred_at))
        if ingested_ms:
            since_ingest.observe(max(0.0, now - ingested_ms / 1000))

    async def leads(tp: Any, records: list[Any], rest: Outbox) -> None:
        partition: int = tp.partition
        table = TableBuffer(pipeline.leads)
        deadlines = TableBuffer(pipeline.deadlines)
        first = Outbox(pipeline.app.producer)  # sent and awaited before the states are written
        states: dict[bytes, Any] = {}  # key → LeadState | None (never stored) | _GONE
        before: dict[bytes, Any] = {}  # key → funnel bucket before this batch
        after_tick: dict[bytes, bool] = {}  # key → its deadline entry must be made exact
        counted: Counter[tuple[str, str]] = Counter()
        # metric updates, once per batch (a labels() call per message showed in profiles)
        moved: Counter[tuple[str, str]] = Counter()
        notes: Counter[str] = Counter()
        # offsets of this batch's records that failed: a failure rebuilds the state from the
        # stored one and the key's earlier records but these (no list of applied messages per key:
        # it kept every message of a batch alive, up to ~13,000 in a backlog fetch)
        failed: set[int] = set()
        scored_at: dict[bytes, float] = {}  # key → time of its last scored touchpoint
        erasures: dict[bytes, int] = {}  # key → erasure count (read when it has no state)

        cached: set[bytes] = set()  # keys whose state this batch took from the cache
        cache.valid_for(pipeline.app.consumer_generation_id)
        for record in records:
            key: bytes = record.key
            if key not in states:
                previous = cache.get(key)
                if previous is None:
                    previous = _stored(table, partition, key)
                else:
                    cached.add(key)
                states[key] = previous
                before[key] = bucket_of(previous, models) if previous is not None else None
            previous = states[key]
            try:
                message: Message = decode_message(record.value)
                reached(key, message, partition, record.offset)
                absent = previous is None or previous is _GONE
                state, emitted = apply(None if absent else previous, message, models,
                                       generation=_erasures(table, partition, key, erasures)
                                       if absent else 0)
            except StateVersionError:
                raise  # a newer build's state (e.g. in a visitor's hand-over): stop, lose nothing
            except Exception as exc:  # a poison record must never stop the stream
                log_unexpected(log, "lead handler", record, exc)
                metrics.errors.labels(kind="apply").inc()
                reject(pipeline, rest, record, stage="leads", kind="internal_error",
                       reason=f"unexpected {type(exc).__name__} while applying",
                       rejected_id=hashlib.sha256(record.value or b"").hexdigest())
                # apply may have changed the state in place before it failed: rebuild it from the
                # stored state and this batch's earlier messages (their effects are queued)
                failed.add(record.offset)
                states[key] = _replayed(table, partition, key, _applied(records, record, failed),
                                        erasures)
                continue
            gone = False
            for item in emitted:
                if isinstance(item, Transition):
                    rest.add(handover, key, transition_to_handover_json(item))
                    moved[(item.from_stage, item.to_stage)] += 1
                    source = message.then if isinstance(message, Absorb) else message
                    if item.trigger_event_id == getattr(source, "event_id", None) or \
                            item.trigger_event_id == getattr(source, "feedback_id", None):
                        _observe_latency(source, record.timestamp)
                elif isinstance(item, Counted):
                    counted[(item.type, "scored")] += 1
                    if isinstance(message, Touchpoint):
                        scored_at[key] = message.occurred_at
                elif isinstance(item, Duplicate):
                    counted[(item.type, "duplicate")] += 1
                elif isinstance(item, Send):
                    target = item.message.lead_id.encode()
                    (first if item.before_state else rest).add(
                        lead_messages, target, encode_message(item.message))
                    notes[item.note] += 1
                elif isinstance(item, Erased):
                    first.add(handover, item.lead_id.encode(),
                              erased_to_handover(item).model_dump_json().encode())
                    metrics.identity_events.labels(kind="erased").inc()
                elif isinstance(item, Delete):
                    gone = True
                    erasures[key] = item.generation
                elif isinstance(item, Rejected):
                    reject(pipeline, rest, record, stage="leads", kind=item.kind,
                           reason=item.reason, rejected_id=item.event_id)
                elif isinstance(item, LeadsMerged):
                    rest.add(handover, item.survivor.encode(),
                             merged_to_handover(item).model_dump_json().encode())
                    metrics.identity_events.labels(kind="leads_merged").inc()
            if gone:
                states[key] = _GONE
                after_tick[key] = True
            elif state is not None and state is previous and state.merged_into is not None \
                    and key in cached:
                # A retired id forwarding input, from the cache: its state is unchanged, and this
                # process wrote it (the changelog record is written, or its failed send stops the
                # worker, which takes the cache with it). Unlike a state read from RocksDB, there
                # is no unsent changelog record to send again, so nothing to write.
                pass
            elif state is not None:
                # Kept (and rewritten) on duplicates too: after a crash the local store may hold
                # an update whose changelog record was never sent; rewriting sends it.
                states[key] = state
                after_tick[key] = after_tick.get(key, False) or isinstance(message, Tick)

        for key, at in scored_at.items():  # once per lead and batch: its score after the batch
            state = states[key]
            if state is not _GONE and state is not None:
                metrics.behaviour_score.observe(
                    behaviour_score(state.components.get(primary.name, {}), primary, at))
        cache_hits.inc(len(cached))
        cache_misses.inc(len(states) - len(cached))
        for (type_, outcome), n in counted.items():
            metrics.touchpoints.labels(type=type_, outcome=outcome).inc(n)
        for (from_stage, to_stage), n in moved.items():
            metrics.transitions.labels(from_stage=from_stage, to_stage=to_stage).inc(n)
        for note, n in notes.items():
            metrics.identity_messages.labels(note=note).inc(n)

        def write() -> None:
            stats = TableBuffer(pipeline.stats)
            pushes = _write_states(partition, states, before, after_tick, table, deadlines, stats,
                                   erasures)
            for buffer in (table, deadlines, stats):
                buffer.flush(rest)
            for key, due in pushes:  # after the deadlines are in RocksDB (the timer reads them)
                index.push(key, due)
            for key in after_tick:
                state = states[key]
                if state is _GONE:
                    cache.discard(key)
                else:
                    cache.put(key, state)

        if len(first):
            # the states wait until `first` is durable; the lane sends `rest` once per fetch, so
            # this partition's next batch (next fetch) sees them written
            rest.after(first, write)
        else:
            write()

    def _stored(table: TableBuffer, partition: int, key: bytes) -> Any:
        stored = table.get(partition, key)
        return decode_state(stored) if stored is not None else None

    def _erasures(table: TableBuffer, partition: int, key: bytes, known: dict[bytes, int]) -> int:
        """How often ``key`` was erased before: a new state for it starts there."""
        if key not in known:
            known[key] = decode_generation(table.get(partition, erased_key(key)))
        return known[key]

    def _applied(records: list[Any], failing: Any, failed: set[int]) -> Iterator[Message]:
        """The messages of ``failing``'s key that this batch applied before it."""
        for record in records:
            if record.offset >= failing.offset:
                return
            if record.key == failing.key and record.offset not in failed:
                yield decode_message(record.value)

    def _replayed(table: TableBuffer, partition: int, key: bytes,
                  messages: Iterable[Message], erasures: dict[bytes, int]) -> Any:
        state = _stored(table, partition, key)
        generation = _erasures(table, partition, key, {})
        for message in messages:
            absent = state is None or state is _GONE
            state, emitted = apply(None if absent else state, message, models,
                                   generation=generation if absent else 0)
            for item in emitted:
                if isinstance(item, Delete):
                    state, generation = _GONE, item.generation
        if state is _GONE:
            erasures[key] = generation
        return state

    def _write_states(partition: int, states: dict[bytes, Any], before: dict[bytes, Any],
                      after_tick: dict[bytes, bool], table: TableBuffer, deadlines: TableBuffer,
                      stats: TableBuffer, erasures: dict[bytes, int]) -> list[tuple[bytes, float]]:
        """Queue each changed lead's state, deadline and funnel shift; return the deadlines to
        index."""
        counts = None
        pushes: list[tuple[bytes, float]] = []
        for key, tick in after_tick.items():
            state = states[key]
            if state is _GONE:
                table.delete(partition, key)
                table.set(partition, erased_key(key), encode_generation(erasures.get(key, 1)))
                after = None
            else:
                table.set(partition, key, encode_state(state))
                after = bucket_of(state, models)
            live = state is not _GONE and state.merged_into is None
            stored = deadlines.get(partition, key)
            changed, due = index_update(
                decode_deadline(stored) if stored is not None else None,
                next_deadline(state, models) if live else None,
                after_tick=tick or not live,
            )
            if changed:
                if due is None:
                    deadlines.delete(partition, key)
                else:
                    deadlines.set(partition, key, encode_deadline(due))
                    pushes.append((key, due))
            if after != before[key]:
                if counts is None:
                    counts = decode_counts(stats.get(partition, stats_key(partition)))
                shift(counts, before[key], after)
        if counts is not None:
            stats.set(partition, stats_key(partition), encode_counts(counts))
        return pushes

    pipeline.lane.subscribe(pipeline.app, pipeline.lead_messages, leads)

