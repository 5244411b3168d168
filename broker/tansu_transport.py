"""A Faust transport for the embedded broker: aiokafka plus the two Tansu workarounds.

* end offsets come from :func:`high_watermarks` (README, "The embedded broker": ListOffsets);
* the consumer's fetch wait is short (defect 7): Faust hard-codes 1.5 s, and Tansu re-checks idle
  partitions only every half of it, which would put ~1 s of latency on every quiet touchpoint.

Selected by the broker URL scheme ``tansu://`` (see :func:`register`); real Kafka uses
``kafka://`` and none of this.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from faust.transport.drivers import TRANSPORTS
from faust.transport.drivers import aiokafka as faust_aiokafka

from leadstream.broker.high_watermarks import high_watermarks

__all__ = ["Transport", "register", "SCHEME", "configure"]

SCHEME = "tansu"
_fetch_max_wait_ms = 100


def configure(*, fetch_max_wait_ms: int) -> None:
    global _fetch_max_wait_ms
    _fetch_max_wait_ms = fetch_max_wait_ms


class ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        # read by AIOKafkaConsumer.start() when it builds its Fetcher
        consumer._fetch_max_wait_ms = _fetch_max_wait_ms

        async def end_offsets(partitions: Iterable[Any]) -> dict[Any, int]:
            return await high_watermarks(consumer._client, partitions)

        consumer.end_offsets = end_offsets
        return consumer


class Consumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> ConsumerThread:
        return ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class Transport(faust_aiokafka.Transport):
    Consumer = Consumer


def register() -> None:
    """Make ``tansu://host:port`` broker URLs resolve to this transport."""
    TRANSPORTS.aliases[SCHEME] = f"{__name__}:Transport"
