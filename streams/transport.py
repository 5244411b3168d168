"""Faust transports with the batch lane (:mod:`leadstream.streams.batch_lane`).

``leadstream-kafka://`` is Faust's aiokafka transport with the batch-lane consumer;
``leadstream-tansu://`` is the embedded broker's transport (:mod:`leadstream.broker.tansu_transport`,
which adds its workarounds) with the same consumer. Faust picks a transport by URL scheme only.
"""

from __future__ import annotations

from faust.transport.drivers import TRANSPORTS
from faust.transport.drivers import aiokafka as faust_aiokafka

from leadstream.broker import tansu_transport
from leadstream.streams.batch_lane import BatchLaneConsumerMixin

__all__ = ["scheme_for", "KafkaTransport", "TansuTransport"]

_SCHEMES = {"kafka": "leadstream-kafka", "tansu": "leadstream-tansu"}


class KafkaConsumer(BatchLaneConsumerMixin, faust_aiokafka.Consumer):
    pass


class TansuConsumer(BatchLaneConsumerMixin, tansu_transport.Consumer):
    pass


class KafkaTransport(faust_aiokafka.Transport):
    Consumer = KafkaConsumer


class TansuTransport(tansu_transport.Transport):
    Consumer = TansuConsumer


def scheme_for(flavour: str) -> str:
    """Register the transports (idempotent) and return the URL scheme for a broker flavour."""
    TRANSPORTS.aliases[_SCHEMES["kafka"]] = f"{__name__}:KafkaTransport"
    TRANSPORTS.aliases[_SCHEMES["tansu"]] = f"{__name__}:TansuTransport"
    return _SCHEMES[flavour]
