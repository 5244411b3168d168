"""End offsets from a Fetch response's high watermark instead of ListOffsets.

Tansu 0.6 answers ListOffsets(LATEST) with (base offset of the newest batch) + 1, which is wrong
whenever that batch holds more than one record (README, "The embedded broker": ListOffsets). Faust uses end offsets as the
target of changelog recovery, so the wrong answer loses table updates. A Fetch with
``max_bytes=0`` returns no records but a correct high watermark; on real Kafka it is the same
value as ListOffsets(LATEST). Used only with ``kafka.flavour: tansu``.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from aiokafka import errors as kafka_errors
from aiokafka.protocol.fetch import FetchRequest

__all__ = ["high_watermarks"]

TP = TypeVar("TP")  # aiokafka TopicPartition or Faust TP: both are (topic, partition) tuples

_READ_UNCOMMITTED = 0
# Tansu returns an empty response to a fetch with max_wait 0; 1 ms is enough.
_MAX_WAIT_MS = 1


async def high_watermarks(client: Any, partitions: Iterable[TP], retries: int = 20) -> dict[TP, int]:
    """Return ``{partition: high watermark}`` using one Fetch per partition leader."""
    wanted = list(partitions)
    if not wanted:
        return {}
    leaders = await _leaders(client, wanted, retries)
    by_node: dict[int, dict[str, list[tuple[int, int, int]]]] = defaultdict(lambda: defaultdict(list))
    for tp in wanted:
        topic, partition = tp[0], tp[1]  # type: ignore[index]
        by_node[leaders[tp]][topic].append((partition, 0, 0))
    found: dict[tuple[str, int], int] = {}
    for node_id, topics in by_node.items():
        request = FetchRequest(_MAX_WAIT_MS, 0, 0, _READ_UNCOMMITTED, list(topics.items()))
        response = await client.send(node_id, request)
        for topic, partition_rows in response.topics:
            for partition, error_code, highwater, *_ in partition_rows:
                error = kafka_errors.for_code(error_code)
                if error is not kafka_errors.NoError:
                    raise error(f"high watermark of {topic}[{partition}]")
                found[(topic, partition)] = highwater
    missing = [tp for tp in wanted if (tp[0], tp[1]) not in found]  # type: ignore[index]
    if missing:
        raise kafka_errors.KafkaError(f"no high watermark returned for {missing}")
    return {tp: found[(tp[0], tp[1])] for tp in wanted}  # type: ignore[index]


async def _leaders(client: Any, partitions: list[TP], retries: int) -> Mapping[TP, int]:
    from aiokafka.structs import TopicPartition

    for _ in range(retries):
        leaders = {
            tp: client.cluster.leader_for_partition(TopicPartition(tp[0], tp[1]))  # type: ignore[index]
            for tp in partitions
        }
        if all(leader is not None and leader >= 0 for leader in leaders.values()):
            return leaders
        await client.force_metadata_update()
        await asyncio.sleep(0.1)
    unknown = [tp for tp, leader in leaders.items() if leader is None or leader < 0]
    raise kafka_errors.LeaderNotAvailableError(f"no leader known for {unknown}")
