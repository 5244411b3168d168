"""The batch lane's contract with Faust's commit bookkeeping, on Faust's own consumer: an input
batch is acknowledged only when everything its handler produced is written; a failed output never
acknowledges it and stops the worker; a rebalance waits for batches in flight."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka.structs import TopicPartition
import faust
from leadstream.core.state import LeadState
from leadstream.streams.lane import BatchLane, FetchCommit, upstream
from leadstream.streams.services.state_cache import StateCache

from tests.factories import faust_producer

TP = TopicPartition("in", 3)


def _Consumer() -> Any:
    """Faust's own aiokafka consumer with the lane (not started): the commit bookkeeping is
    Faust's real containers and methods; only what would talk to the broker is replaced."""
    app = faust.App("lane-test", broker=f"{upstream.scheme_for('kafka')}://127.0.0.1:9",
                    web_enabled=False)
    lane = BatchLane()
    lane.register(TP.topic, _no_outputs)
    upstream.attach_lane(app, lane)
    consumer = app.consumer
    crashed: list[BaseException] = []
    app.crash_reasons = crashed  # what crash() was called with
    consumer.broker_committed = {}

    async def crash(exc: BaseException) -> None:
        crashed.append(exc)

    async def commit_at_broker(offsets: dict[Any, int]) -> bool:
        return True

    async def seek_to_committed() -> dict[Any, int]:  # the broker's answer, read before a wait
        read = dict(consumer.broker_committed)
        await asyncio.sleep(0)
        return read

    async def flush() -> None:
        return None

    consumer.crash = crash
    app.crash = crash
    consumer.assignment = lambda: {TP}
    consumer._commit = commit_at_broker
    consumer.seek_to_committed = seek_to_committed
    app.producer = SimpleNamespace(flush=flush)
    consumer.handle = lambda fetched, current: consumer._handle(lane, fetched, current)
    consumer.gaps = lambda tp: sorted((i.begin, i.end - 1) for i in consumer._gap[tp])
    return consumer


async def _no_outputs(tp: Any, records: list[Any], outbox: Any) -> None:
    return None


def _current() -> bool:
    return True


def _records(*offsets: int) -> list[Any]:
    return [SimpleNamespace(offset=o, key=b"k", value=b"v") for o in offsets]


class _KafkaProducer:
    """What the outbox uses of aiokafka's producer; every batch's future is left to the test."""

    def __init__(self) -> None:
        self.batches: list[tuple[str, int, list[bytes]]] = []
        self.futures: list[asyncio.Future[Any]] = []
        self.client = SimpleNamespace(_wait_on_metadata=self._metadata)
        self.fail: Exception | None = None

    async def _metadata(self, topic: str) -> None:
        return None

    def create_batch(self) -> Any:
        values: list[bytes] = []
        return SimpleNamespace(values=values, close=lambda: None,
                               append=lambda key, value, timestamp: values.append(value) or True)

    async def send_batch(self, batch: Any, topic: str, partition: int) -> asyncio.Future[Any]:
        if self.fail is not None:
            raise self.fail
        self.batches.append((topic, partition, batch.values))
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.futures.append(future)
        return future


def _consumer_with_producer() -> tuple[Any, _KafkaProducer]:
    consumer = _Consumer()
    kafka = _KafkaProducer()
    producer = faust_producer(kafka)
    producer.flush = consumer.app.producer.flush
    consumer.app.producer = producer
    return consumer, kafka


TP2 = TopicPartition("in", 5)


async def _spin() -> None:
    """Let done-callbacks run (futures → gathers → acknowledgements)."""
    for _ in range(5):
        await asyncio.sleep(0)


async def _to_out(tp: Any, records: list[Any], commit: FetchCommit) -> None:
    for record in records:  # every input partition writes to output partitions 0 and 1
        commit.output("out", record.key, b"%d" % record.offset, partition=record.offset % 2)


def test_a_batch_is_acknowledged_only_when_its_outputs_are_written() -> None:
    async def scenario() -> None:
        consumer, kafka = _consumer_with_producer()
        await consumer.handle([(TP, _records(10, 11, 12), _to_out)], _current)
        assert consumer._acked[TP] == []
        assert len(consumer._unacked_messages) == 1  # a rebalance would wait for it
        for future in kafka.futures:
            future.set_result(None)
        await _spin()
        assert consumer._acked[TP] == [10, 11, 12]
        assert consumer._n_acked == 3
        assert len(consumer._unacked_messages) == 0
        assert consumer._read_offset[TP] == 12

    asyncio.run(scenario())


def test_a_failed_output_never_acknowledges_and_stops_the_worker() -> None:
    async def scenario() -> None:
        consumer, kafka = _consumer_with_producer()
        await consumer.handle([(TP, _records(5, 6), _to_out)], _current)
        kafka.futures[0].set_result(None)
        kafka.futures[1].set_exception(RuntimeError("broker said no"))
        await _spin()
        assert consumer._acked[TP] == []
        assert [type(e) for e in consumer.app.crash_reasons] == [RuntimeError]
        assert len(consumer._unacked_messages) == 0  # not left for a rebalance to wait on

    asyncio.run(scenario())


def test_a_handler_that_raises_stops_the_worker_without_acknowledging() -> None:
    async def scenario() -> None:
        consumer = _Consumer()

        async def handler(tp: Any, records: list[Any], outbox: Any) -> None:
            raise OSError("disk full")

        with pytest.raises(OSError):
            await consumer.handle([(TP, _records(1), handler)], _current)
        assert consumer._acked[TP] == []
        assert [type(e) for e in consumer.app.crash_reasons] == [OSError]

    asyncio.run(scenario())


def test_offsets_the_broker_skipped_count_as_processed() -> None:
    async def scenario() -> None:
        consumer = _Consumer()
        consumer._committed_offset[TP] = 18
        await consumer.handle([(TP, _records(20, 21, 24), _no_outputs)], _current)
        # before the first batch (from the committed offset) and inside it; nothing else
        assert consumer.gaps(TP) == [(18, 19), (22, 23)]
        await consumer.handle([(TP, _records(27), _no_outputs)], _current)
        assert consumer.gaps(TP) == [(18, 19), (22, 23), (25, 26)]
        assert consumer._new_offset(TP) == 28

    asyncio.run(scenario())


def test_offsets_below_the_committed_one_are_not_acknowledged() -> None:
    async def scenario() -> None:
        consumer = _Consumer()
        consumer._committed_offset[TP] = 21
        await consumer.handle([(TP, _records(20, 21, 22), _no_outputs)], _current)
        assert consumer._acked[TP] == [21, 22]
        assert consumer._new_offset(TP) == 23

    asyncio.run(scenario())


def test_a_seek_to_the_committed_offset_while_a_batch_is_handled_makes_no_gap() -> None:
    # Faust's recovery resumes the partitions, then seeks them to their committed offsets; records
    # fetched just before are handled meanwhile. Faust's seek resets ``_read_offset`` to the
    # committed offset, and a gap taken from it would cover offsets 5..150: acknowledged twice,
    # the commit then advanced one offset per commit interval (the takeover stall in CI).
    async def scenario() -> None:
        consumer = _Consumer()
        consumer._committed_offset[TP] = 4
        await consumer.handle([(TP, _records(*range(4, 151)), _no_outputs)], _current)
        consumer._read_offset[TP] = 4  # Faust's perform_seek
        await consumer.handle([(TP, _records(*range(151, 377)), _no_outputs)], _current)
        assert consumer.gaps(TP) == []
        assert consumer._new_offset(TP) == 377
        assert consumer._acked[TP] == [] and not consumer._acked_index[TP]

    asyncio.run(scenario())


def test_the_commit_waits_for_a_batch_still_in_flight_before_later_ones() -> None:
    async def scenario() -> None:
        consumer, kafka = _consumer_with_producer()
        consumer._committed_offset[TP] = 10
        await consumer.handle([(TP, _records(10), _to_out)], _current)
        await consumer.handle([(TP, _records(11, 12), _no_outputs)], _current)
        assert consumer._new_offset(TP) is None  # 10's outputs are not written yet
        (slow,) = kafka.futures
        slow.set_result(None)
        await _spin()
        assert consumer._new_offset(TP) == 13

    asyncio.run(scenario())


def test_a_commit_that_lands_during_the_seek_to_committed_offsets_is_not_undone() -> None:
    # the second takeover stall: Faust's seek read 108 from the broker, our commit of 136 landed,
    # then the seek stored 108; 108..135 were off the acknowledged list, so nothing committed again
    async def scenario() -> None:
        consumer = _Consumer()
        consumer.broker_committed[TP] = 108
        await consumer.handle([(TP, _records(*range(108, 136)), _no_outputs)], _current)
        seek = asyncio.ensure_future(consumer.perform_seek())
        await asyncio.sleep(0)  # the seek has read 108
        offset = consumer._new_offset(TP)
        assert offset == 136
        assert await consumer._commit_offsets({TP: offset})
        await seek
        assert consumer._committed_offset[TP] == 136
        await consumer.handle([(TP, _records(*range(136, 642)), _no_outputs)], _current)
        assert consumer._new_offset(TP) == 642

    asyncio.run(scenario())


def test_duplicate_acknowledgements_do_not_hold_the_commit_back() -> None:
    consumer = _Consumer()
    consumer._committed_offset[TP] = 4
    consumer._acked[TP] = [4, 5, 5, 6, 4, 2, 9]  # 2: below the committed offset
    consumer._acked_index[TP] = {2, 4, 5, 6, 9}
    assert consumer._new_offset(TP) == 7
    assert consumer._acked[TP] == [9] and consumer._acked_index[TP] == {9}


def test_a_topic_has_one_handler() -> None:
    lane = BatchLane()

    async def handler(tp: Any, records: list[Any], outbox: Any) -> None:
        return None

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
    cache.put(b"c", "C")  # evicts the least recently used, b
    assert (cache.get(b"a"), cache.get(b"b"), cache.get(b"c")) == ("A2", None, "C")
    assert cache.get(b"a") == "A2"  # a read counts as a use: c is now the least recent
    cache.put(b"d", "D")
    assert (cache.get(b"a"), cache.get(b"c"), cache.get(b"d")) == ("A2", None, "D")
    cache.valid_for(1)
    assert len(cache) == 2
    cache.valid_for(2)  # a rebalance: partitions may have moved or been recovered
    assert len(cache) == 0
    off = StateCache(limit=0)
    off.put(b"a", "A")
    assert off.get(b"a") is None


def test_retired_ids_are_cached_apart_as_where_they_forward() -> None:
    cache = StateCache(limit=1, retired_limit=2)
    cache.valid_for(1)
    lead = LeadState(lead_id="em-1", touchpoints=3)
    cache.put(b"em-1", lead)
    for n in (1, 2, 3):  # the third evicts the first retired id, never the lead
        cache.put(f"anon-{n}".encode(), LeadState(lead_id=f"anon-{n}", merged_into="em-1"))
    assert cache.get(b"em-1") is lead
    assert cache.get(b"anon-1") is None
    assert cache.get(b"anon-3") == LeadState(lead_id="anon-3", merged_into="em-1")
    # a retired state that still holds something is not rebuilt from its target: kept whole
    holding = LeadState(lead_id="em-2", merged_into="em-1", aliases=["anon-9"])
    cache.put(b"em-2", holding)
    assert cache.get(b"em-2") is holding and cache.get(b"em-1") is None  # limit 1: lead evicted
    # a key moves between the two as its state changes, and discard forgets both
    cache.put(b"anon-3", LeadState(lead_id="anon-3", touchpoints=1))
    assert cache.get(b"anon-3") == LeadState(lead_id="anon-3", touchpoints=1)
    cache.put(b"anon-2", LeadState(lead_id="anon-2", merged_into="em-1"))
    cache.discard(b"anon-2")
    assert cache.get(b"anon-2") is None
    assert len(cache) == 1
    cache.put(b"anon-4", LeadState(lead_id="anon-4", merged_into="em-1"))
    cache.valid_for(2)
    assert len(cache) == 0 and cache.get(b"anon-4") is None
    shared = StateCache(limit=1, retired_limit=0)  # 0: retired ids share the lead cache
    shared.put(b"anon-5", LeadState(lead_id="anon-5", merged_into="em-1"))
    shared.put(b"em-1", lead)
    assert shared.get(b"anon-5") is None and shared.get(b"em-1") is lead


def test_the_batches_of_one_fetch_share_one_outbox_and_wait_for_all_of_it() -> None:
    async def scenario() -> None:
        consumer, kafka = _consumer_with_producer()
        await consumer.handle([(TP, _records(10, 11), _to_out), (TP2, _records(7, 8), _to_out)],
                               _current)
        # one Kafka batch per output partition for both input batches, in the order added
        assert kafka.batches == [("out", 0, [b"10", b"8"]), ("out", 1, [b"11", b"7"])]
        assert consumer._acked[TP] == [] and consumer._acked[TP2] == []
        kafka.futures[0].set_result(None)
        await _spin()
        assert consumer._acked[TP] == [] and consumer._acked[TP2] == []  # partition 1 not written
        kafka.futures[1].set_result(None)
        await _spin()
        assert consumer._acked[TP] == [10, 11] and consumer._acked[TP2] == [7, 8]
        assert len(consumer._unacked_messages) == 0

    asyncio.run(scenario())


def test_a_rebalance_during_a_fetch_drops_the_batches_not_handled_yet() -> None:
    async def scenario() -> None:
        consumer, kafka = _consumer_with_producer()
        handled: list[Any] = []

        async def handler(tp: Any, records: list[Any], outbox: Any) -> None:
            handled.append(tp)
            await _to_out(tp, records, outbox)

        await consumer.handle([(TP, _records(10, 11), handler), (TP2, _records(7), handler)],
                               lambda: not handled)
        assert handled == [TP]
        assert consumer._read_offset[TP2] is None  # read again after the rebalance
        for future in kafka.futures:
            future.set_result(None)
        await _spin()
        assert consumer._acked[TP] == [10, 11] and consumer._acked[TP2] == []

    asyncio.run(scenario())


def test_an_outbox_that_cannot_be_sent_stops_the_worker_without_acknowledging() -> None:
    async def scenario() -> None:
        consumer, kafka = _consumer_with_producer()
        kafka.fail = RuntimeError("accumulator closed")
        with pytest.raises(RuntimeError):
            await consumer.handle([(TP, _records(1), _to_out), (TP2, _records(2), _to_out)],
                                   _current)
        assert consumer._acked[TP] == [] and consumer._acked[TP2] == []
        assert [type(e) for e in consumer.app.crash_reasons] == [RuntimeError]
        assert len(consumer._unacked_messages) == 0

    asyncio.run(scenario())


def test_a_large_fetch_sends_its_outbox_early_and_still_waits_for_all_of_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("leadstream.streams.lane.upstream._SEND_AT", 2)

    async def scenario() -> None:
        consumer, kafka = _consumer_with_producer()
        await consumer.handle([(TP, _records(10, 11), _to_out), (TP2, _records(7, 8), _to_out)],
                               _current)
        # sent after the first batch (2 records queued), then the rest at the end of the fetch
        assert kafka.batches == [("out", 0, [b"10"]), ("out", 1, [b"11"]),
                                 ("out", 1, [b"7"]), ("out", 0, [b"8"])]
        for future in kafka.futures[:3]:
            future.set_result(None)
        await _spin()
        assert consumer._acked[TP] == [] and consumer._acked[TP2] == []
        kafka.futures[3].set_result(None)
        await _spin()
        assert consumer._acked[TP] == [10, 11] and consumer._acked[TP2] == [7, 8]

    asyncio.run(scenario())


def test_a_long_fetch_gives_the_loop_back_between_batches() -> None:
    async def scenario() -> None:
        consumer, _ = _consumer_with_producer()
        turns = 0

        async def other_task() -> None:  # e.g. the web server answering /metrics
            nonlocal turns
            while True:
                turns += 1
                await asyncio.sleep(0)

        async def slow(tp: Any, records: list[Any], outbox: Any) -> None:
            time.sleep(0.008)  # CPU-bound handling that never awaits

        other = asyncio.create_task(other_task())
        await asyncio.sleep(0)
        before = turns
        fetched = [(TopicPartition("in", p), _records(1), slow) for p in range(8)]
        await consumer.handle(fetched, _current)
        during = turns - before
        other.cancel()
        # 8 ms per batch, the loop given back once 10 ms have passed: before batches 3, 5 and 7;
        # without it the other task gets no turn until the fetch is done
        assert during >= 3

    asyncio.run(scenario())
