"""Every use of Faust's, mode's and aiokafka's private names, in one place.

The batch lane keeps everything Faust does around fetched records — group membership, the
assignor, table recovery (partitions under recovery are not fetched), rebalances, offset commits,
the producer flush before each commit — and changes only what happens to a fetched batch of a
lane topic: it goes to that topic's handler whole, instead of one ``Event`` per record through
the conductor, a channel and a ``Stream``. Faust has no public hook below the ``Stream``, so this
module overrides the consumer's drain loop and reads the commit bookkeeping that goes with it,
and it reaches into the producer and the table store the same way. Nothing else in the project
uses a name with a leading underscore from these libraries, or patches one of their objects.

Copied from, and checked against (``BORROWED`` holds a hash of each upstream source;
tests/unit/test_upstream.py fails when an installed release differs, so an upgrade is a
deliberate act: read the upstream change, adapt the copy, renew the hashes):

faust-streaming 0.15.3
    ``Consumer._drain_messages`` and ``getmany``: the loop below mirrors them (flow control,
    generation checks, read offsets, ``commit_every``); it calls ``_wait_next_records``,
    ``_to_message``, ``_stopped`` (consumer and fetcher), ``wait_first`` and ``callback`` as they do.
    ``Consumer.ack`` and ``_new_offset``: replaced for lane topics by :mod:`.offsets`, over the same
    containers ``_acked``, ``_acked_index``, ``_gap``, ``_committed_offset``, ``_read_offset``,
    ``_n_acked``, ``_commit_every``, ``_unacked_messages``, ``_waiting_for_ack``,
    ``_buffered_partitions``. ``_commit_offsets``, ``perform_seek``, ``wait_empty`` and
    ``on_partitions_revoked`` are extended (see each). ``ThreadDelegateConsumer._new_consumer_thread``
    and ``AIOKafkaConsumerThread._create_worker_consumer`` are overridden to build our consumer
    thread. ``Producer._ensure_producer`` gives the aiokafka producer. ``ProducerBuffer.flush`` and
    ``_send_pending`` are patched (:func:`make_flush_durable`). ``rocksdb.Store._db_for_partition``
    gives a partition's RocksDB, where ``rocksdb.Store.offset_key`` is the one key that is not
    the table's (:data:`OFFSET_KEY`, skipped by scans).
mode-streaming 0.7.1
    ``QueueServiceThread.call_thread`` is extended to wake the consumer thread's loop.
aiokafka 0.14.0
    ``AIOKafkaProducer._metadata``, ``_partitioner`` and ``_message_accumulator._batches``
    (partition choice as ``send`` makes it; whether a partition's batch is still waiting);
    ``AIOKafkaClient._wait_on_metadata``; ``AIOKafkaConsumer._fetch_max_wait_ms`` and ``_client``
    (the embedded broker's fetch wait and end offsets).
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import inspect
import logging
from collections.abc import Callable, Iterable
from importlib import metadata
from typing import TYPE_CHECKING, Any

import faust
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from faust.transport.drivers import TRANSPORTS
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP, ProducerT
from faust.types.tables import CollectionT
from mode.utils.futures import notify
from rocksdict import Rdict

from leadstream.broker.high_watermarks import high_watermarks
from leadstream.streams.lane import offsets as arithmetic
from leadstream.streams.lane.progress import Mark

if TYPE_CHECKING:
    from leadstream.streams.lane.registry import BatchHandler, BatchLane, InputRecord

__all__ = [
    "BORROWED",
    "RELEASES",
    "attach_lane",
    "committed_offsets",
    "configure_tansu",
    "drift",
    "has_batch_in_accumulator",
    "kafka_producer",
    "lane_of",
    "make_flush_durable",
    "partition_db",
    "consumer_partitions",
    "consumer_end_offsets",
    "OFFSET_KEY",
    "partitioner",
    "partitions_of",
    "scheme_for",
    "wait_for_topic",
]

log = logging.getLogger(__name__)

RELEASES = {"faust-streaming": "0.15.3", "mode-streaming": "0.7.1", "aiokafka": "0.14.0"}
"""The releases the borrowed code was read from (pyproject.toml pins them)."""

BORROWED: dict[str, str] = {
    # "module:qualified.name": first 16 hex digits of the SHA-256 of its source, as released
    "faust.transport.consumer:Consumer.__init__": "302410d59e6972d1",
    "faust.transport.consumer:Consumer._drain_messages": "44a2500309e83c63",
    "faust.transport.consumer:Consumer.getmany": "4b168d84882a70d6",
    "faust.transport.consumer:Consumer._wait_next_records": "6218e1969a636b3f",
    "faust.transport.consumer:Consumer.ack": "5fcf41cf45153475",
    "faust.transport.consumer:Consumer._new_offset": "1d2c7ea89a7ad4f1",
    "faust.transport.consumer:Consumer._add_gap": "4df2573ded7c1c2c",
    "faust.transport.consumer:Consumer.perform_seek": "0e8c130ff4b0afd8",
    "faust.transport.consumer:Consumer.wait_empty": "e4662fe24f094819",
    "faust.transport.consumer:Consumer.commit": "a354437baaa08bf8",
    "faust.transport.consumer:Consumer._commit_offsets": "1a69799041188441",
    "faust.transport.consumer:Consumer.on_partitions_revoked": "d04b7ae72c6fc206",
    "faust.transport.consumer:ThreadDelegateConsumer.__init__": "7072ae80eac1ff62",
    "faust.transport.drivers.aiokafka:Consumer._new_consumer_thread": "0870ec53dea75083",
    "faust.transport.drivers.aiokafka:AIOKafkaConsumerThread._create_worker_consumer": "c2701bfc3e6f6cad",
    "faust.transport.drivers.aiokafka:Producer._ensure_producer": "5592a4bbdf251325",
    "faust.transport.producer:ProducerBuffer.flush": "26fbebb124ad9c98",
    "faust.transport.producer:ProducerBuffer.flush_atmost": "4966e8c5f9b42eb9",
    "faust.transport.producer:ProducerBuffer._send_pending": "4a9d5f932b56bc68",
    "faust.stores.rocksdb:Store._db_for_partition": "cb7e67d5f9efc4bc",
    "mode.threads:QueueServiceThread.call_thread": "479edda75b54734b",
    "aiokafka.producer.producer:AIOKafkaProducer.__init__": "fd6f2966fb3dc883",
    "aiokafka.producer.producer:AIOKafkaProducer.send_batch": "bf42b0f0c5c0646d",
    "aiokafka.producer.producer:AIOKafkaProducer.create_batch": "c4efda4bb7a09741",
    "aiokafka.producer.message_accumulator:MessageAccumulator.add_batch": "5ed1c5b1367ad854",
    "aiokafka.client:AIOKafkaClient._wait_on_metadata": "52b0a5ee78ef3aa0",
    "aiokafka.consumer.consumer:AIOKafkaConsumer.__init__": "01506f316191f7c9",
    "aiokafka.consumer.consumer:AIOKafkaConsumer.start": "2f1ba70443327538",
}

_FINAL_COMMIT_TIMEOUT_S = 10.0
#: a fetch's effects are carried out early once this many records are queued: a burst fetch can
#: hold many MB per partition, and keeping all of it until the fetch is done raised peak memory
_SEND_AT = 2_000
#: between batches, a fetch's handling gives the loop back once this long has passed since it
#: last did: a burst fetch of many MB otherwise runs for seconds with the producer's sender, the
#: web server (/metrics, /ready) and Faust's timers all waiting for it
_YIELD_EVERY_S = 0.01


# ---- the upstream check --------------------------------------------------------------------


def source_hash(name: str) -> str:
    """The hash ``BORROWED`` keeps for ``module:qualified.name`` as installed now."""
    module, qualified = name.split(":")
    obj: object = importlib.import_module(module)
    for part in qualified.split("."):
        obj = getattr(obj, part)
    return hashlib.sha256(inspect.getsource(obj).encode()).hexdigest()[:16]  # type: ignore[arg-type]


def drift() -> list[str]:
    """What differs between the installed libraries and the releases the borrowed code was read
    from, one line each; empty when nothing does."""
    found = []
    for package, release in RELEASES.items():
        installed = metadata.version(package)
        if installed != release:
            found.append(f"{package} {installed} is installed; the batch lane was written "
                         f"against {release} (streams/lane/upstream.py)")
    for name, expected in BORROWED.items():
        try:
            actual = source_hash(name)
        except (AttributeError, ImportError) as exc:
            found.append(f"{name} is gone ({type(exc).__name__})")
            continue
        if actual != expected:
            found.append(f"{name} changed upstream (source hash {actual}, copied from {expected})")
    return found


# ---- the app, the producer, the store ------------------------------------------------------


def attach_lane(app: faust.App, lane: BatchLane) -> None:
    """Make ``app``'s consumer hand the lane's topics to the lane (before the app starts)."""
    app.batch_lane = lane  # type: ignore[attr-defined]


def lane_of(app: faust.App) -> BatchLane | None:
    lane: BatchLane | None = getattr(app, "batch_lane", None)
    return lane


def kafka_producer(producer: ProducerT) -> AIOKafkaProducer:
    """The aiokafka producer behind Faust's (raises ``NotReady`` before it is started)."""
    kafka: AIOKafkaProducer = producer._ensure_producer()  # type: ignore[attr-defined]
    return kafka


async def wait_for_topic(producer: AIOKafkaProducer, topic: str) -> None:
    """Wait until the producer has metadata for ``topic`` (as its ``send`` does first)."""
    await producer.client._wait_on_metadata(topic)


def partitions_of(producer: AIOKafkaProducer, topic: str) -> tuple[list[int], list[int]]:
    """All of ``topic``'s partitions (sorted) and the available ones, as the producer knows them."""
    known = producer._metadata
    every = known.partitions_for_topic(topic)
    if not every:
        return [], []
    return sorted(every), list(known.available_partitions_for_topic(topic))


def partitioner(producer: AIOKafkaProducer) -> Callable[[bytes | None, list[int], list[int]], int]:
    """The producer's partitioner (murmur2 by key, as ``send`` uses it)."""
    chosen: Callable[[bytes | None, list[int], list[int]], int] = producer._partitioner
    return chosen


def has_batch_in_accumulator(producer: AIOKafkaProducer, topic: str, partition: int) -> bool:
    """Whether a batch for the partition still waits in the producer's accumulator."""
    accumulator = getattr(producer, "_message_accumulator", None)
    return bool(accumulator is not None and accumulator._batches.get((topic, partition)))


#: the key under which Faust's RocksDB store keeps a partition's changelog offset, in the same
#: database as the table's own keys (faust.stores.rocksdb.Store.offset_key)
OFFSET_KEY = b"__faust\0offset__"


async def consumer_partitions(consumer: AIOKafkaConsumer, topic: str) -> list[int]:
    """The partitions of ``topic``, once the consumer's client has its metadata."""
    found = await consumer._client._wait_on_metadata(topic)
    return sorted(found or ())


async def consumer_end_offsets(consumer: AIOKafkaConsumer, partitions: list[TopicPartition], *,
                               tansu: bool) -> dict[TopicPartition, int]:
    """End offsets; on the embedded broker from a fetch's high watermark (ListOffsets is wrong)."""
    if tansu:
        return await high_watermarks(consumer._client, partitions)
    ends: dict[TopicPartition, int] = await consumer.end_offsets(partitions)
    return ends


def partition_db(table: CollectionT, partition: int) -> Rdict:
    """The RocksDB of one partition of a RocksDB-backed table."""
    db: Rdict = table.data._db_for_partition(partition)  # type: ignore[attr-defined]
    return db


def committed_offsets(consumer: object) -> dict[TP, int | None]:
    """The offsets the consumer last committed, per partition (Faust keeps no public accessor)."""
    committed: dict[TP, int | None] = getattr(consumer, "_committed_offset", {})
    return committed


def make_flush_durable(app: faust.App) -> None:
    """Make Faust's pre-commit flush wait for every buffered table changelog record (before the
    app starts).

    Faust writes table changes with ``send_soon`` into a ``ProducerBuffer`` that a background task
    hands to aiokafka one by one. Before committing offsets the consumer calls
    ``ProducerBuffer.flush()``, which returns as soon as no message was handed over within 0.1 s
    and does not wait for the one in hand: offsets could be committed while changelog records
    were still buffered, and a kill -9 then lost a state change whose input counted as processed
    (found by the crash torture). Patched, ``flush()`` returns only when the buffer is empty and
    nothing is in hand; aiokafka's own flush, called right after, covers every record."""
    buffer = app.producer.buffer
    in_hand = 0
    send_pending = buffer._send_pending  # type: ignore[attr-defined]
    partial_flush = buffer.flush

    async def counted_send(fut: object) -> None:
        nonlocal in_hand
        in_hand += 1
        try:
            await send_pending(fut)
        finally:
            in_hand -= 1

    async def flush() -> None:
        while True:
            await partial_flush()
            if not buffer.size and not in_hand:
                return
            await asyncio.sleep(0.005)

    buffer._send_pending = counted_send  # type: ignore[attr-defined]
    buffer.flush = flush  # type: ignore[method-assign]


# ---- the consumer --------------------------------------------------------------------------


class InFlight:
    """Stands for a batch in Faust's set of unacknowledged messages until its outputs are durable
    (the attributes are the ones ``Consumer.wait_empty`` reads), so a rebalance waits for it."""

    __slots__ = ("acked", "refcount", "tp", "progress", "__weakref__")

    def __init__(self, tp: TP, progress: Mark | None = None) -> None:
        self.acked = False
        self.refcount = 1
        self.tp = tp
        self.progress = progress

    def __repr__(self) -> str:
        return f"<batch in flight {self.tp}>"


Fetched = list[tuple[TP, list["InputRecord"], "BatchHandler"]]


class LaneConsumerMixin:
    """Mixed into Faust's aiokafka ``Consumer``: the drain loop with the batch lane.

    Handling a batch and the loop's own ``commit_every`` commit are shielded from cancellation:
    at shutdown Faust cancels this loop, and a commit cancelled between the broker's answer and
    Faust's bookkeeping leaves its partition unable to commit again until a restart (found by
    tests/integration/test_shutdown.py). Records of other topics (Faust's own, classic agents)
    take Faust's normal path."""

    app: faust.App
    _acked: Any
    _acked_index: Any
    _committed_offset: Any
    _read_offset: Any
    _unacked_messages: Any
    _buffered_partitions: Any
    _waiting_for_ack: Any
    _commit_every: int | None
    _n_acked: int
    _gap: Any

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # the last offset handed to a handler, per partition of the current assignment
        self._lane_last: dict[TP, int] = {}
        # the highest offset this worker committed, per partition of the current assignment
        self._lane_committed: dict[TP, int] = {}

    async def _drain_messages(self, fetcher: Any) -> None:  # noqa: C901 - mirrors Faust's loop
        lane = lane_of(self.app)
        if lane is None:
            await super()._drain_messages(fetcher)  # type: ignore[misc]
            return
        service: Any = self
        callback = service.callback
        consumer_should_stop = service._stopped.is_set
        fetcher_should_stop = fetcher._stopped.is_set
        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                records, active = await service._wait_next_records(1.0)
                await service.sleep(0)
                if records is None or service.should_stop or not records:
                    continue
                if not service.flow_active:
                    # as Faust's getmany does: a partition revoked while seeking (a rebalance
                    # under way) raises IllegalStateError; the next assignment seeks again, and
                    # the worker must not die of it
                    try:
                        await service.perform_seek()
                    except Exception as exc:
                        service.log.warning("seek while the flow is stopped failed (%s); the "
                                            "next assignment seeks again", type(exc).__name__)
                    continue
                generation = self.app.consumer_generation_id

                def current(generation: int = generation) -> bool:
                    return bool(service.flow_active) and \
                        self.app.consumer_generation_id == generation

                fetched: Fetched = []
                for tp, batch in records.items():
                    if not current():
                        break
                    if active is not None and tp not in active and \
                            tp not in self._buffered_partitions:
                        # fetched just before the partition was paused: Faust drops such records
                        # although the fetch position has moved past them, which leaves a hole
                        # no commit can pass; read them again when the partition resumes (a
                        # partition no longer assigned is read from its committed offset anyway)
                        if tp in service.assignment():
                            await service.seek(tp, batch[0].offset)
                        continue
                    batch = self._unread(tp, batch)
                    if not batch:
                        continue
                    highwater = service.highwater(tp)
                    self.app.monitor.track_tp_end_offset(tp, highwater)
                    lane.progress.fetched(tp, highwater)
                    handler = lane.handler_for(tp.topic)
                    if handler is None:
                        for record in batch:
                            await service.wait_first(
                                callback(service._to_message(tp, record)),
                                service.suspend_flow.wait())
                            self._read_offset[tp] = record.offset
                        continue
                    fetched.append((tp, batch, handler))
                if fetched:
                    # shielded: stopping the fetcher (shutdown) must not cut a batch in half;
                    # once Faust stops the flow, `current()` ends the fetch at the next partition
                    # batch, and Faust waits for the markers (wait_empty) and commits what it
                    # produced
                    await asyncio.shield(self._handle(lane, fetched, current))
                    if self._commit_every is not None and self._n_acked >= self._commit_every:
                        self._n_acked = 0
                        await asyncio.shield(service.commit())
        except service.consumer_stopped_errors:
            if service.transport.app.should_stop:
                return
            raise
        except asyncio.CancelledError:
            if service.transport.app.should_stop:
                return
            raise

    async def on_partitions_revoked(self, revoked: set[TP]) -> None:
        for tp in revoked:
            self._lane_last.pop(tp, None)
            self._lane_committed.pop(tp, None)
        lane = lane_of(self.app)
        if lane is not None:
            lane.progress.revoked(revoked)
        await super().on_partitions_revoked(revoked)  # type: ignore[misc]

    async def _commit_offsets(self, offsets: dict[TP, int],
                              start_new_transaction: bool = True) -> bool:
        did_commit: bool = await super()._commit_offsets(  # type: ignore[misc]
            offsets, start_new_transaction=start_new_transaction)
        if did_commit:
            assigned = self.assignment()  # type: ignore[attr-defined]
            for tp, offset in offsets.items():
                if tp in assigned:  # Faust discards the rest
                    self._lane_committed[tp] = max(offset, self._lane_committed.get(tp, offset))
        return did_commit

    async def perform_seek(self) -> None:
        """Faust's, without moving a committed offset back below this worker's own commit.

        Faust reads the committed offsets from the broker, then stores them; a commit of ours that
        lands in between is overwritten by the older value. The offsets it committed are already
        off the acknowledged list, so the commit run could never start again (a takeover stall)."""
        await super().perform_seek()  # type: ignore[misc]
        for tp, offset in self._lane_committed.items():
            current = self._committed_offset[tp]
            if current is None or current < offset:
                self._committed_offset[tp] = offset

    async def wait_empty(self) -> None:
        """Faust's, then commit until every acknowledged offset is committed (bounded).

        Faust's final commit can leave acknowledged batches behind: it returns without committing
        while another commit is running, and a partition whose previous commit is still in flight
        cannot commit past it. After a clean shutdown those batches would be processed again."""
        service: Any = self
        await super().wait_empty()  # type: ignore[misc]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _FINAL_COMMIT_TIMEOUT_S
        while loop.time() < deadline and any(self._acked.get(tp) for tp in service.assignment()):
            await service.maybe_wait_for_commit_to_finish()
            if not await service.commit():
                await asyncio.sleep(0.05)

    def _unread(self, tp: TP, batch: list[InputRecord]) -> list[InputRecord]:
        """Drop records at or before the read offset (a re-fetch), as Faust does."""
        read = self._read_offset[tp]
        if read is None or batch[0].offset >= read:
            return batch
        return [record for record in batch if record.offset >= read]

    async def _handle(self, lane: BatchLane, fetched: Fetched,
                      current: Callable[[], bool]) -> None:
        """Hand each batch of one fetch to its handler, carry out their shared
        :class:`~leadstream.streams.lane.commit.FetchCommit`, and acknowledge every batch when all of it is written.
        ``current()`` turns false when a rebalance begins: the batches not handled yet are
        dropped (read again from the committed offsets)."""
        service: Any = self
        commit = lane.commit_for(self.app.producer)
        handled: list[tuple[TP, list[int], InFlight]] = []
        sent: list[asyncio.Future[object]] = []
        loop = asyncio.get_running_loop()
        yielded = loop.time()
        try:
            for tp, batch, handler in fetched:
                if len(commit) >= _SEND_AT:
                    sent.extend(await commit.send())
                if loop.time() - yielded >= _YIELD_EVERY_S:
                    await asyncio.sleep(0)
                    yielded = loop.time()
                if not current():
                    break
                marker = InFlight(tp, lane.progress.handling(tp, batch[-1].offset))
                self._unacked_messages.add(marker)
                offsets = [record.offset for record in batch]
                handled.append((tp, offsets, marker))
                self._note_gaps(tp, offsets)
                self._read_offset[tp] = offsets[-1]
                self._lane_last[tp] = offsets[-1]
                await handler(tp, batch, commit)
            sent.extend(await commit.send())
        except Exception as exc:
            for _, _, marker in handled:
                self._settle(marker)
            log.exception("handling a fetch of %s failed; stopping the worker",
                          ", ".join(sorted({tp.topic for tp, _, _ in handled})))
            await service.crash(exc)
            raise
        if not sent:
            for tp, offsets, marker in handled:
                self._ack(tp, offsets, marker)
            return
        done = asyncio.gather(*sent)  # one wait for the whole fetch
        for tp, offsets, marker in handled:
            done.add_done_callback(
                lambda fut, tp=tp, offsets=offsets, marker=marker:
                self._on_outputs(fut, tp, offsets, marker))

    def _note_gaps(self, tp: TP, offsets: list[int]) -> None:
        """Offsets the broker skipped count as processed (only those known to be skipped: Faust
        derives a leading gap from the read offset, which its seek resets while records fetched
        before it are still being handled)."""
        for first, last in arithmetic.skipped(self._lane_last.get(tp),
                                              self._committed_offset[tp], offsets):
            arithmetic.add_skipped(self._gap[tp], first, last)

    def _new_offset(self, tp: TP) -> int | None:
        """The offset to commit for ``tp`` (Faust's, made exact for lane topics)."""
        lane = lane_of(self.app)
        if lane is None or lane.handler_for(tp.topic) is None:
            return super()._new_offset(tp)  # type: ignore[misc]
        return arithmetic.next_commit(self._acked[tp], self._acked_index[tp], self._gap[tp],
                                      self._committed_offset[tp])

    def _on_outputs(self, fut: asyncio.Future[object], tp: TP, offsets: list[int],
                    marker: InFlight) -> None:
        if fut.cancelled() or fut.exception() is not None:
            self._settle(marker)
            reason = fut.exception() if not fut.cancelled() else asyncio.CancelledError()
            # never acknowledged, so never committed: processed again after the restart
            log.error("a produced batch for input %s failed (%s); stopping the worker",
                      tp, type(reason).__name__)
            asyncio.ensure_future(self.app.crash(reason))  # type: ignore[arg-type]
            return
        self._ack(tp, offsets, marker)

    def _ack(self, tp: TP, offsets: list[int], marker: InFlight) -> None:
        """Faust's ``Consumer.ack`` for a whole batch (same bookkeeping, one call)."""
        self._n_acked += arithmetic.acknowledge(self._acked[tp], self._acked_index[tp],
                                                self._committed_offset[tp], offsets)
        lane = lane_of(self.app)
        if marker.progress is not None and lane is not None:
            lane.progress.written(tp, marker.progress)
        self._settle(marker)

    def _settle(self, marker: InFlight) -> None:
        marker.acked = True
        self._unacked_messages.discard(marker)
        notify(self._waiting_for_ack)


# ---- the transports ------------------------------------------------------------------------

_SCHEMES = {"kafka": "leadstream-kafka", "tansu": "leadstream-tansu"}
_tansu_fetch_max_wait_ms = 100


def configure_tansu(*, fetch_max_wait_ms: int) -> None:
    """The embedded broker's consumer fetch wait (Faust hard-codes 1.5 s, and the embedded broker
    re-checks idle partitions only every half of it: ~1 s of latency on every quiet record)."""
    global _tansu_fetch_max_wait_ms
    _tansu_fetch_max_wait_ms = fetch_max_wait_ms


def _wake() -> None:
    pass


class _WakingThread(faust_aiokafka.AIOKafkaConsumerThread):
    """Wakes the consumer thread's event loop after queueing a call to it.

    Faust runs the aiokafka consumer in a thread with its own event loop; ``call_thread`` puts
    the call on an ``asyncio.Queue`` of that loop from the main loop, which does not wake it: the
    call waits for the thread's next I/O event or its 1 s keep-alive timer (offset commits and
    seeks at shutdown, when nothing else is fetched). ``call_soon_threadsafe`` writes to the
    loop's self-pipe, so the call runs at once."""

    async def call_thread(self, fun: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        promise = await self.method_queue.call(self.parent_loop.create_future(), fun, *args,
                                               **kwargs)
        self.thread_loop.call_soon_threadsafe(_wake)
        return await promise


class _TansuThread(_WakingThread):
    """The embedded broker's workarounds: a short fetch wait, and end offsets from a Fetch's high
    watermark (its ListOffsets answer is wrong for a newest batch of more than one record, and
    Faust uses end offsets as the target of changelog recovery)."""

    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = _tansu_fetch_max_wait_ms  # read by start() for its Fetcher

        async def end_offsets(partitions: Iterable[TP]) -> dict[TP, int]:
            return await high_watermarks(consumer._client, partitions)

        consumer.end_offsets = end_offsets
        return consumer


class KafkaConsumer(LaneConsumerMixin, faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> _WakingThread:
        return _WakingThread(self, loop=self.loop, beacon=self.beacon)


class TansuConsumer(LaneConsumerMixin, faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> _TansuThread:
        return _TansuThread(self, loop=self.loop, beacon=self.beacon)


class KafkaTransport(faust_aiokafka.Transport):
    Consumer = KafkaConsumer


class TansuTransport(faust_aiokafka.Transport):
    Consumer = TansuConsumer


def scheme_for(flavour: str) -> str:
    """Register the transports (idempotent) and return the broker URL scheme for a flavour."""
    TRANSPORTS.aliases[_SCHEMES["kafka"]] = f"{__name__}:KafkaTransport"
    TRANSPORTS.aliases[_SCHEMES["tansu"]] = f"{__name__}:TansuTransport"
    return _SCHEMES[flavour]
