"""``leadstream export``: the input topics (touchpoints, CRM verdicts, commands) as one log file.

Every partition of every input topic is read from its beginning to the end offset it had when
the export started (with ``kafka.flavour: tansu`` the end offsets come from a fetch's high
watermark: the embedded broker answers ListOffsets wrongly). Records are written oldest first by
record timestamp, ties by topic, partition and offset: within a partition, the order the workers
read them in. The records are held in memory while they are sorted (about the size of the
topics' values).
"""

from __future__ import annotations

import heapq
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition

from leadstream.backtest.records import LogRecord, write_log
from leadstream.config.settings import Settings
from leadstream.streams.kafka_options import aiokafka_options
from leadstream.streams.lane import upstream

__all__ = ["export_inputs", "input_topics"]


def input_topics(settings: Settings) -> dict[str, str]:
    """Topic name → input kind (``touchpoints``, ``feedback``, ``commands``)."""
    topics = {name: "touchpoints" for name in settings.topics.touchpoints}
    topics[settings.topics.feedback] = "feedback"
    topics[settings.topics.commands] = "commands"
    return topics


async def _read(settings: Settings) -> list[list[LogRecord]]:
    consumer = AIOKafkaConsumer(enable_auto_commit=False, group_id=None,
                                **aiokafka_options(settings.kafka))
    await consumer.start()
    try:
        kinds = input_topics(settings)
        partitions = []
        for topic in kinds:
            partitions += [TopicPartition(topic, p)
                           for p in await upstream.consumer_partitions(consumer, topic)]
        if not partitions:
            return []
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await upstream.consumer_end_offsets(consumer, partitions,
                                                   tansu=settings.kafka.flavour == "tansu")
        runs: dict[TopicPartition, list[LogRecord]] = {tp: [] for tp in partitions}
        open_parts = {tp for tp in partitions if ends.get(tp, 0) > 0}
        for tp in partitions:
            if tp not in open_parts:
                consumer.pause(tp)
        while open_parts:
            batches = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            for tp, messages in batches.items():
                for m in messages:
                    if m.offset >= ends[tp]:
                        break
                    runs[tp].append(LogRecord(kind=kinds[tp.topic], value=m.value or b"",
                                              key=m.key, timestamp=m.timestamp, topic=tp.topic,
                                              partition=tp.partition, offset=m.offset))
                if runs[tp] and runs[tp][-1].offset + 1 >= ends[tp]:
                    open_parts.discard(tp)
                    consumer.pause(tp)
        return list(runs.values())
    finally:
        await consumer.stop()


def _order(record: LogRecord) -> tuple[int, str, int, int]:
    return (record.timestamp or 0, record.topic or "", record.partition or 0, record.offset or 0)


async def export_inputs(settings: Settings, path: Path) -> int:
    """Write every input record to ``path`` (``.jsonl`` or ``.jsonl.gz``); return how many."""
    runs = await _read(settings)
    return write_log(path, heapq.merge(*runs, key=_order))
