"""``leadstream traffic``: send demo touchpoints to any Kafka (used by docker-compose)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

from aiokafka import AIOKafkaProducer

from leadstream.config.settings import KafkaSettings
from leadstream.demo.traffic import TrafficGenerator
from leadstream.streams.kafka_options import aiokafka_options

__all__ = ["send_traffic"]


async def send_traffic(
    kafka: KafkaSettings, topic: str, *, rate: float, duration: float, people: int, seed: int
) -> Counter[str]:
    """Send at ``rate`` records/s for ``duration`` seconds (0 = until cancelled)."""
    total = int(rate * duration) if duration > 0 else int(rate * 86_400)
    traffic = TrafficGenerator(people=people, seed=seed, total=total)
    sent: Counter[str] = Counter()
    producer = AIOKafkaProducer(linger_ms=5, **aiokafka_options(kafka))
    await producer.start()
    started = time.monotonic()
    try:
        for n in range(1, total + 1):
            record = next(traffic)
            await producer.send(topic, record.value, key=record.key)
            sent[record.kind] += 1
            ahead = n / rate - (time.monotonic() - started)
            if ahead > 0:
                await asyncio.sleep(ahead)
            if n % max(int(rate * 10), 1) == 0:
                print(f"sent {n} touchpoints ({dict(sent)})", flush=True)
        await producer.flush()
    finally:
        await producer.stop()
    return sent
