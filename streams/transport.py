"""Faust transports with the batch lane (:mod:`leadstream.streams.batch_lane`).

``leadstream-kafka://`` is Faust's aiokafka transport with the batch-lane consumer;
``leadstream-tansu://`` is the embedded broker's transport (:mod:`leadstream.broker.tansu_transport`,
which adds its workarounds) with the same consumer. Faust picks a transport by URL scheme only.
"""

from __future__ import annotations

from typing import Any

from faust.transport.drivers import TRANSPORTS
from faust.transport.drivers import aiokafka as faust_aiokafka

from leadstream.broker import tansu_transport
from leadstream.streams.batch_lane import BatchLaneConsumerMixin

__all__ = ["scheme_for", "KafkaTransport", "TansuTransport"]

_SCHEMES = {"kafka": "leadstream-kafka", "tansu": "leadstream-tansu"}


def _wake() -> None:
    pass


class WakingThreadMixin:
    """Wakes the consumer thread's event loop after queueing a call to it.

    Faust runs the aiokafka consumer in a thread with its own event loop; ``call_thread`` puts
    the call on an ``asyncio.Queue`` of that loop from the main loop, which does not wake it: the
    call waits for the thread's next I/O event or its 1 s keep-alive timer (offset commits and
    seeks at shutdown, when nothing else is fetched). ``call_soon_threadsafe`` writes to the
    loop's self-pipe, so the call runs at once.
    """

    thread_loop: Any
    method_queue: Any
    parent_loop: Any

    async def call_thread(self, fun: Any, *args: Any, **kwargs: Any) -> Any:
        promise = await self.method_queue.call(self.parent_loop.create_future(), fun, *args,
                                               **kwargs)
        self.thread_loop.call_soon_threadsafe(_wake)
        return await promise


class KafkaConsumerThread(WakingThreadMixin, faust_aiokafka.AIOKafkaConsumerThread):
    pass


class TansuConsumerThread(WakingThreadMixin, tansu_transport.ConsumerThread):
    pass


class KafkaConsumer(BatchLaneConsumerMixin, faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> KafkaConsumerThread:
        return KafkaConsumerThread(self, loop=self.loop, beacon=self.beacon)


class TansuConsumer(BatchLaneConsumerMixin, tansu_transport.Consumer):
    def _new_consumer_thread(self) -> TansuConsumerThread:
        return TansuConsumerThread(self, loop=self.loop, beacon=self.beacon)


class KafkaTransport(faust_aiokafka.Transport):
    Consumer = KafkaConsumer


class TansuTransport(tansu_transport.Transport):
    Consumer = TansuConsumer


def scheme_for(flavour: str) -> str:
    """Register the transports (idempotent) and return the URL scheme for a broker flavour."""
    TRANSPORTS.aliases[_SCHEMES["kafka"]] = f"{__name__}:KafkaTransport"
    TRANSPORTS.aliases[_SCHEMES["tansu"]] = f"{__name__}:TansuTransport"
    return _SCHEMES[flavour]
