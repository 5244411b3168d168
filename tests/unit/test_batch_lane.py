"""The batch lane's contract with Faust's commit bookkeeping: an input batch is acknowledged only
when everything its handler produced is written; a failed output never acknowledges it and stops
the worker; a rebalance waits for batches in flight."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from types import SimpleNamespace
from typing import Any
from weakref import WeakSet

import pytest
from aiokafka.structs import TopicPartition

from leadstream.streams.batch_lane import BatchLane, BatchLaneConsumerMixin
from leadstream.streams.state_cache import StateCache

TP = TopicPartition("in", 3)


class _FaustConsumerState:
    """The attributes of faust's Consumer that the lane reads and writes."""

    def __init__(self) -> None:
        self._acked: dict[Any, list[int]] = defaultdict(list)
        self._acked_index: dict[Any, set[int]] = defaultdict(set)
        self._committed_offset: dict[Any, int | None] = defaultdict(lambda: None)
        self._read_offset: dict[Any, int | None] = defaultdict(lambda: None)
        self._unacked_messages: WeakSet[Any] = WeakSet()
        self._waiting_for_ack = None
        self._n_acked = 0
        self.gaps: list[tuple[int, int]] = []
        self.crashed: list[BaseException] = []
        self.app = SimpleNamespace(crash=self._crash)

    async def _add_gap(self, tp: Any, start: int, end: int) -> None:
        self.gaps.append((start, end))

    async def crash(self, exc: BaseException) -> None:
        self.crashed.append(exc)

    async def _crash(self, exc: BaseException) -> None:
        self.crashed.append(exc)


class _Consumer(BatchLaneConsumerMixin, _FaustConsumerState):
    pass


def _records(*offsets: int) -> list[Any]:
    return [SimpleNamespace(offset=o, key=b"k", value=b"v") for o in offsets]


def test_a_batch_is_acknowledged_only_when_its_outputs_are_written() -> None:
    async def scenario() -> None:
        consumer = _Consumer()
        written: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        async def handler(tp: Any, records: list[Any]) -> list[asyncio.Future[Any]]:
            return [written]

        await consumer._handle(TP, _records(10, 11, 12), handler)
        assert consumer._acked[TP] == []
        assert len(consumer._unacked_messages) == 1  # a rebalance would wait for it
        written.set_result(None)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert consumer._acked[TP] == [10, 11, 12]
        assert consumer._n_acked == 3
        assert len(consumer._unacked_messages) == 0
        assert consumer._read_offset[TP] == 12

    asyncio.run(scenario())


def test_a_failed_output_never_acknowledges_and_stops_the_worker() -> None:
    async def scenario() -> None:
        consumer = _Consumer()
        failed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        async def handler(tp: Any, records: list[Any]) -> list[asyncio.Future[Any]]:
            return [failed]

        await consumer._handle(TP, _records(5, 6), handler)
        failed.set_exception(RuntimeError("broker said no"))
        for _ in range(3):
            await asyncio.sleep(0)
        assert consumer._acked[TP] == []
        assert [type(e) for e in consumer.crashed] == [RuntimeError]
        assert len(consumer._unacked_messages) == 0  # not left for a rebalance to wait on

    asyncio.run(scenario())


def test_a_handler_that_raises_stops_the_worker_without_acknowledging() -> None:
    async def scenario() -> None:
        consumer = _Consumer()

        async def handler(tp: Any, records: list[Any]) -> list[asyncio.Future[Any]]:
            raise OSError("disk full")

        with pytest.raises(OSError):
            await consumer._handle(TP, _records(1), handler)
        assert consumer._acked[TP] == []
        assert [type(e) for e in consumer.crashed] == [OSError]

    asyncio.run(scenario())


def test_offsets_below_the_committed_one_and_gaps_are_handled_like_faust() -> None:
    async def scenario() -> None:
        consumer = _Consumer()
        consumer._committed_offset[TP] = 21
        consumer._read_offset[TP] = 17

        async def handler(tp: Any, records: list[Any]) -> list[asyncio.Future[Any]]:
            return []

        await consumer._handle(TP, _records(20, 21, 24), handler)
        assert consumer._acked[TP] == [21, 24]  # 20 is below the committed offset
        assert consumer.gaps == [(18, 20), (22, 24)]  # before the batch, and inside it

    asyncio.run(scenario())


def test_a_topic_has_one_handler() -> None:
    lane = BatchLane()

    async def handler(tp: Any, records: list[Any]) -> list[asyncio.Future[Any]]:
        return []

    lane.register("in", handler)
    with pytest.raises(ValueError, match="already has a batch handler"):
        lane.register("in", handler)
    assert lane.handler_for("in") is handler and lane.handler_for("other") is None


def test_the_state_cache_is_bounded_and_emptied_on_a_new_generation() -> None:
    cache = StateCache(limit=2)
    cache.valid_for(1)
    cache.put(b"a", "A")
    cache.put(b"b", "B")
    cache.put(b"a", "A2")  # re-inserted: now the newest
    cache.put(b"c", "C")  # evicts the oldest, b
    assert (cache.get(b"a"), cache.get(b"b"), cache.get(b"c")) == ("A2", None, "C")
    cache.valid_for(1)
    assert len(cache) == 2
    cache.valid_for(2)  # a rebalance: partitions may have moved or been recovered
    assert len(cache) == 0
    off = StateCache(limit=0)
    off.put(b"a", "A")
    assert off.get(b"a") is None
