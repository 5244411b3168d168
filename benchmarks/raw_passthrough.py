"""The ceiling of benchmarks/throughput.py: raw aiokafka consume → produce, default batching.

No Faust, no state: a consumer in a group reads the input topic and a producer (default
batching) writes every record to the output topic; offsets are committed periodically like a
Faust worker's. Settings come from the same LEADSTREAM__* environment as a real worker; it prints
"Worker ready" once it holds its partitions, so the benchmark times it like the others.
"""

from __future__ import annotations

import asyncio
import signal
import sys

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener

from leadstream.config import load_settings
from leadstream.streams.kafka_options import aiokafka_options
from leadstream.streams.prepare import prepare


class _Ready(ConsumerRebalanceListener):  # type: ignore[misc]
    async def on_partitions_revoked(self, revoked: object) -> None:
        pass

    async def on_partitions_assigned(self, assigned: object) -> None:
        print("Worker ready", flush=True)


async def run() -> None:
    settings = load_settings()
    await prepare(settings)
    options = aiokafka_options(settings.kafka)
    consumer = AIOKafkaConsumer(group_id=settings.app_id, auto_offset_reset="earliest",
                                enable_auto_commit=True, auto_commit_interval_ms=2800, **options)
    producer = AIOKafkaProducer(**options)
    consumer.subscribe(list(settings.topics.touchpoints), listener=_Ready())
    await consumer.start()
    await producer.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    out = settings.topics.handover
    try:
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=100, max_records=5000)
            for records in batches.values():
                for record in records:
                    await producer.send(out, record.value, key=record.key)
    finally:
        await producer.stop()
        await consumer.stop()


if __name__ == "__main__":
    asyncio.run(run())
    sys.exit(0)
