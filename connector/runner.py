"""``leadstream connector``: the Kafka side of the connector.

Per batch: read handover records, write their rows and the next offsets in one database
transaction, then commit the same offsets to Kafka (for lag monitoring only: on start the
connector reads its position from the database, so a crash anywhere loses and doubles nothing).
Beside it, rows inserted into ``crm_verdicts`` are sent to ``lead-feedback``; a row is marked
sent only after Kafka has it (a crash in between sends it again; the worker applies a
``feedback_id`` once).

One connector writes to a database at a time (``Store.try_lead``: a PostgreSQL advisory lock, or
a lock file beside a SQLite file, both released when the process ends however it ends). Another
one started on the same database stands by until that lock is free, then takes over from the
offsets in the database: a second replica is a hot standby, never a second writer.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord, OffsetAndMetadata
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from pydantic import ValidationError

from leadstream.config.settings import Settings
from leadstream.connector.events import HandoverEvent, HandoverRecordError, parse_handover
from leadstream.connector.store import Reject, Store, Verdict
from leadstream.schemas.feedback import FeedbackIn
from leadstream.streams.kafka_options import aiokafka_options
from leadstream.streams.lane import upstream

__all__ = ["ConnectorMetrics", "ConnectorRun", "run_connector", "verdict_record"]

log = logging.getLogger("leadstream.connector")


@dataclass
class ConnectorRun:
    """What a run did (the demo and the tests read it)."""

    records: int = 0
    rejected: int = 0
    verdicts_sent: int = 0
    verdicts_refused: int = 0


class ConnectorMetrics:
    """The connector's Prometheus metrics, in a registry of its own (labels are bounded codes)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.records = Counter("leadstream_connector_records",
                               "Handover records read: stored, or rejected (connector_rejects).",
                               ["outcome"], registry=self.registry)
        self.verdicts = Counter("leadstream_connector_verdicts",
                                "crm_verdicts rows: sent to lead-feedback, or refused (error).",
                                ["outcome"], registry=self.registry)
        self.batch_seconds = Histogram("leadstream_connector_batch_seconds",
                                       "Time to write one batch and its offsets (one transaction).",
                                       registry=self.registry,
                                       buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))
        self.next_offset = Gauge("leadstream_connector_next_offset",
                                 "Next handover offset to read, per partition (from the database).",
                                 ["partition"], registry=self.registry)
        self.active = Gauge("leadstream_connector_active",
                            "1 while this connector writes to its database, 0 while it stands by "
                            "(another one holds the database).", registry=self.registry)
        self.lag = Gauge("leadstream_connector_lag",
                         "Handover records on the topic not yet in the database, per partition "
                         "(the partition's high watermark at the last fetch less the next offset).",
                         ["partition"], registry=self.registry)

    def show_lag(self, consumer: AIOKafkaConsumer, positions: dict[TopicPartition, int]) -> None:
        for tp, position in positions.items():
            high = consumer.highwater(tp)
            if high is not None:  # (none before the partition's first fetch: unknown, not 0)
                self.lag.labels(partition=str(tp.partition)).set(max(0, high - position))


async def run_connector(settings: Settings, store: Store, *, stop: asyncio.Event,
                        run: ConnectorRun | None = None,
                        metrics: ConnectorMetrics | None = None) -> ConnectorRun:
    """Run until ``stop`` is set; ``run`` (if given) counts as it goes."""
    options = aiokafka_options(settings.kafka)
    topic = settings.topics.handover
    run = ConnectorRun() if run is None else run
    metrics = ConnectorMetrics() if metrics is None else metrics
    if not await _take_the_lead(store, stop, metrics, settings.connector.standby_poll_s):
        return run  # stopped while standing by
    consumer = AIOKafkaConsumer(group_id=settings.connector.group_id, enable_auto_commit=False,
                                client_id=f"{settings.kafka.client_id}-connector", **options)
    producer = AIOKafkaProducer(acks="all", client_id=f"{settings.kafka.client_id}-connector",
                                **options)
    await consumer.start()
    await producer.start()
    try:
        partitions = [TopicPartition(topic, p)
                      for p in await upstream.consumer_partitions(consumer, topic)]
        if not partitions:
            raise HandoverRecordError("no_topic", f"topic {topic!r} has no partitions")
        consumer.assign(partitions)
        stored = await asyncio.to_thread(store.offsets, topic)
        for tp in partitions:
            if tp.partition in stored:
                consumer.seek(tp, stored[tp.partition])
            else:  # a new database folds the whole topic
                await consumer.seek_to_beginning(tp)
        positions = {tp: await consumer.position(tp) for tp in partitions}
        log.info("connector reading %s (%d partitions) from %s", topic, len(partitions),
                 {p: stored.get(p, 0) for p in range(len(partitions))})
        next_verdicts = 0.0
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=200,
                                             max_records=settings.connector.batch_max_records)
            if batches:
                positions.update(await _write(store, consumer, batches, run, metrics))
            metrics.show_lag(consumer, positions)
            if time.monotonic() >= next_verdicts:
                await _send_verdicts(store, producer, settings.topics.feedback, run, metrics)
                next_verdicts = time.monotonic() + settings.connector.verdicts_interval_s
        return run
    finally:
        await producer.stop()
        await consumer.stop()


async def _take_the_lead(store: Store, stop: asyncio.Event, metrics: ConnectorMetrics,
                         poll_s: float) -> bool:
    """Wait until this connector is the one writing to the database; ``False``: stopped first."""
    waited = False
    while not stop.is_set():
        if await asyncio.to_thread(store.try_lead):
            metrics.active.set(1)
            if waited:
                log.info("the other connector let go of the database: this one takes over")
            return True
        metrics.active.set(0)
        if not waited:
            log.warning("another connector is writing to this database; standing by until it "
                        "stops (checking every %gs)", poll_s)
            waited = True
        try:
            await asyncio.wait_for(stop.wait(), timeout=poll_s)
        except TimeoutError:
            pass
    return False


async def _write(store: Store, consumer: AIOKafkaConsumer,
                 batches: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]],
                 run: ConnectorRun, metrics: ConnectorMetrics) -> dict[TopicPartition, int]:
    """Store the batch and its next offsets in one transaction; return those offsets."""
    events: list[HandoverEvent] = []
    rejects: list[Reject] = []
    next_offsets: dict[TopicPartition, int] = {}
    for tp, records in batches.items():
        for record in records:
            try:
                events.append(parse_handover(record.value))
            except HandoverRecordError as exc:
                rejects.append(Reject(tp.topic, tp.partition, record.offset, exc.kind, exc.reason,
                                      record.value))
                log.warning("handover record %s[%d]@%d not stored: %s", tp.topic, tp.partition,
                            record.offset, exc.kind)
        if records:
            next_offsets[tp] = records[-1].offset + 1
    started = time.monotonic()
    await asyncio.to_thread(store.apply, events, rejects=rejects,
                            offsets={(tp.topic, tp.partition): o for tp, o in next_offsets.items()})
    metrics.batch_seconds.observe(time.monotonic() - started)
    run.records += sum(len(r) for r in batches.values())
    run.rejected += len(rejects)
    metrics.records.labels(outcome="stored").inc(len(events))
    metrics.records.labels(outcome="rejected").inc(len(rejects))
    for tp, next_offset in next_offsets.items():
        metrics.next_offset.labels(partition=str(tp.partition)).set(next_offset)
    try:
        await consumer.commit({tp: OffsetAndMetadata(o, "") for tp, o in next_offsets.items()})
    except KafkaError as exc:  # the database holds the position; this only feeds lag metrics
        log.debug("offset commit to Kafka failed (%s); the database has them", exc)
    return next_offsets


def verdict_record(verdict: Verdict) -> bytes:
    """The ``lead-feedback`` record for a ``crm_verdicts`` row, checked as the worker checks it
    (``ValidationError`` when the row is not a valid verdict)."""
    checked = FeedbackIn.model_validate({
        "feedback_id": verdict.feedback_id, "lead_id": verdict.lead_id,
        "verdict": verdict.verdict, "occurred_at": verdict.occurred_at,
        "reason": verdict.reason, "owner": verdict.owner, "amount": verdict.amount,
        "bant": verdict.bant})
    return orjson.dumps(checked.model_dump(mode="json", exclude_none=True))


async def _send_verdicts(store: Store, producer: AIOKafkaProducer, topic: str,
                         run: ConnectorRun, metrics: ConnectorMetrics) -> None:
    pending = await asyncio.to_thread(store.pending_verdicts)
    if not pending:
        return
    errors: dict[str, str] = {}
    sending = []
    for verdict in pending:
        try:
            value = verdict_record(verdict)
        except ValidationError as exc:
            first = exc.errors(include_input=False, include_url=False)[0]
            where = ".".join(str(p) for p in first["loc"]) or "(row)"
            errors[verdict.feedback_id] = f"{where}: {first['msg']}"[:500]
            continue
        sending.append((verdict.feedback_id,
                        await producer.send(topic, value, key=verdict.lead_id.encode())))
    sent = []
    for feedback_id, future in sending:
        await future  # raises on a broker error: the row stays unsent and is tried again
        sent.append(feedback_id)
    await asyncio.to_thread(store.verdicts_done, sent, errors)
    run.verdicts_sent += len(sent)
    run.verdicts_refused += len(errors)
    metrics.verdicts.labels(outcome="sent").inc(len(sent))
    metrics.verdicts.labels(outcome="refused").inc(len(errors))
    if errors:
        log.warning("%d crm_verdicts rows are not valid verdicts (see their error column)",
                    len(errors))
