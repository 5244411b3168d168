"""Read whole topics once, from their beginning to the end offsets they had at the start
(``leadstream export``, ``leadstream dlq``). With ``kafka.flavour: tansu`` the end offsets come
from a fetch's high watermark: the embedded broker answers ListOffsets wrongly."""

from __future__ import annotations

from collections.abc import Iterable

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord

from leadstream.config.settings import Settings
from leadstream.streams.kafka_options import aiokafka_options
from leadstream.streams.lane import upstream

__all__ = ["read_to_end"]


async def read_to_end(settings: Settings,
                      topics: Iterable[str]) -> dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]:
    """Every record of ``topics``, per partition in offset order (no consumer group)."""
    consumer = AIOKafkaConsumer(enable_auto_commit=False, group_id=None,
                                **aiokafka_options(settings.kafka))
    await consumer.start()
    try:
        partitions = []
        for topic in topics:
            partitions += [TopicPartition(topic, p)
                           for p in await upstream.consumer_partitions(consumer, topic)]
        runs: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]] = {tp: [] for tp in partitions}
        if not partitions:
            return runs
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await upstream.consumer_end_offsets(consumer, partitions,
                                                   tansu=settings.kafka.flavour == "tansu")
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
                    runs[tp].append(m)
                if runs[tp] and runs[tp][-1].offset + 1 >= ends[tp]:
                    open_parts.discard(tp)
                    consumer.pause(tp)
        return runs
    finally:
        await consumer.stop()
