"""Tick source: time passes for leads that receive no touchpoints (SLA breach, going cold).

A timer on every worker pops the leads whose deadline has passed from the in-memory index of its
own partitions and sends each a ``Tick`` on the lead-messages topic, keyed by lead — so the tick is
applied by the lead agent in order with everything else about that lead, and it is in the log: a
replay or a crash re-derives the same transitions. The tick's time is the deadline itself, not the
wall clock, so its content does not depend on when the timer happened to run.

After a model change, a one-off sweep ticks every lead last evaluated by another model version, so
idle leads are re-checked too (reason ``model_change``). A marker file per worker state directory
records the model version swept, per partition.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

from leadstream.core.messages import Tick
from leadstream.streams.encoding.codecs import ERASED_PREFIX, decode_state, encode_message
from leadstream.streams.services.deadlines import decode_deadline
from leadstream.streams.lane.outbox import Outbox, partition_for
from leadstream.streams.ops.readiness import is_ready
from leadstream.streams.lane.table_buffer import TableBuffer

if TYPE_CHECKING:
    from leadstream.streams.pipeline import Pipeline

__all__ = ["register_ticks", "sweep_marker_path"]

log = logging.getLogger(__name__)

_SWEEP_CHUNK = 256


def sweep_marker_path(pipeline: Pipeline) -> Path:
    return pipeline.settings.state.dir / "model-sweep.json"


def register_ticks(pipeline: Pipeline) -> None:
    ticks = pipeline.settings.ticks
    if not ticks.enabled:
        return
    app = pipeline.app
    index = pipeline.deadline_index

    @app.timer(ticks.interval_s, name="leadstream.ticks")
    async def tick_due_leads() -> None:
        if not is_ready(app):
            return
        generation = app.consumer_generation_id
        if index.generation != generation:
            index.rebuild(pipeline.deadlines.items(), generation)
            log.info("deadline index rebuilt: %d leads with a deadline", len(index))
            if ticks.sweep_on_model_change:
                await _sweep_if_model_changed(pipeline)
        outbox = Outbox(app.producer)
        stored_deadlines = TableBuffer(pipeline.deadlines)
        for key, due in index.pop_due(time.time(), ticks.max_per_round):
            stored = _stored_deadline(pipeline, stored_deadlines, key)
            if stored is None or decode_deadline(stored) != due:
                continue  # superseded: the entry moved or was removed since it was pushed
            _add_tick(pipeline, outbox, key, Tick(f"due:{due!r}", key.decode(), due))
        sent = len(outbox)
        if sent:
            # one Kafka batch per partition (Faust's ``topic.send`` per tick costs a task and a
            # future each); a tick lost in a crash is sent again: its deadline stays stored
            await outbox.flush()
            pipeline.metrics.ticks.labels(cause="deadline").inc(sent)


def _stored_deadline(pipeline: Pipeline, stored: TableBuffer, key: bytes) -> bytes | None:
    """The deadline table's entry for ``key``, read from the key's own partition.

    Faust's ``Table.get`` looks for the key in every partition's RocksDB, twice (``in``, then
    ``[]``): most of the timer's CPU in a backlog where many leads come due."""
    partition = partition_for(pipeline.app.producer, pipeline.lead_messages.get_topic_name(), key)
    if partition is None:  # no metadata yet
        value: bytes | None = pipeline.deadlines.get(key)
        return value
    return stored.get(partition, key)


def _add_tick(pipeline: Pipeline, outbox: Outbox, key: bytes, tick: Tick) -> None:
    outbox.add(pipeline.lead_messages.get_topic_name(), key, encode_message(tick))


def _assigned_partitions(pipeline: Pipeline) -> set[int]:
    topic = pipeline.leads.changelog_topic.get_topic_name()
    return {tp.partition for tp in pipeline.app.assignor.assigned_actives() if tp.topic == topic}


async def _sweep_if_model_changed(pipeline: Pipeline) -> None:
    ref = pipeline.models.ref
    marker = sweep_marker_path(pipeline)
    try:
        swept: dict[str, str] = json.loads(marker.read_text())
    except (FileNotFoundError, ValueError):
        swept = {}
    partitions = _assigned_partitions(pipeline)
    if all(swept.get(str(p)) == ref for p in partitions):
        return
    now = time.time()
    sent = 0
    outbox = Outbox(pipeline.app.producer)
    for i, (key, raw) in enumerate(pipeline.leads.items()):
        if i % _SWEEP_CHUNK == 0:
            await asyncio.sleep(0)  # never block the event loop for a whole partition
            sent += len(outbox)
            await outbox.flush()
        if key.startswith(ERASED_PREFIX):
            continue  # an erasure record, not a lead
        if decode_state(raw).models_ref != ref:
            _add_tick(pipeline, outbox, key, Tick(f"model:{ref}", key.decode(), now))
    sent += len(outbox)
    await outbox.flush()  # durable before the marker says the model was swept
    swept.update({str(p): ref for p in partitions})
    marker.write_text(json.dumps(swept, sort_keys=True))
    pipeline.metrics.ticks.labels(cause="model_change").inc(sent)
    log.info("model %s: re-checking %d leads last evaluated by another model version", ref, sent)
