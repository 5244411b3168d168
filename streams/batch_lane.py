"""The batch lane: chosen topics skip Faust's per-record path and reach a handler a batch at a time.

Faust's consumer hands every fetched record to the conductor on its own
(``Consumer._drain_messages``: one ``wait_first`` with two tasks per record, then channel → queue →
``Stream`` → ``Event``), and each table write and ``topic.send`` is again a task and a future per
record. That machinery costs more CPU than the whole scoring: a bare Faust pass-through reaches
~0.14 of a raw aiokafka one on the same broker (benchmarks/HISTORY.md). Faust offers no batch path
below the ``Stream`` (``Stream.take`` still runs each record through it).

So the consumer here keeps everything Faust does around the records — group membership, the
assignor, table recovery (partitions under recovery are not fetched), rebalances, offset commits,
the producer flush before each commit — and changes only what happens to a fetched batch of a
registered topic: the batch goes to that topic's handler, which queues what it produces on an
:class:`~leadstream.streams.outbox.Outbox` that every lane batch of the same fetch shares. The lane
sends that outbox once per fetch: paced traffic arrives as many small batches, and one Kafka batch
per output partition and input batch cost more than the handling (benchmarks/HISTORY.md). The
records' offsets are acknowledged to Faust's commit bookkeeping only when everything the fetch's
batches produced is written, so a committed offset always means "its outputs are in Kafka"; a
failed send stops the worker (its input is then processed again after restart: at-least-once).
How far each partition's outputs are written, batch by batch, is kept in ``BatchLane.progress``
(streams/lane_progress.py) for ingest's visitor shortcut.

While a batch is in flight, a marker sits in Faust's set of unacknowledged messages, so a
rebalance waits for it (``Consumer.wait_empty``) exactly as it waits for a Faust agent's events.
Handling a batch and the loop's own ``commit_every`` commit are shielded from cancellation: at
shutdown Faust cancels this loop, and Faust's own loop (0.15.3) loses a commit cancelled between the
broker's answer and its bookkeeping — the partition then cannot commit again until a restart, and a
clean shutdown re-processes thousands of records (found by tests/integration/test_shutdown.py).
Records of other topics (Faust's own, an app's classic agents) take Faust's normal path.

The commit bookkeeping is Faust's (``_acked``, ``_gap``, ``_committed_offset``) with three
corrections for lane topics: skipped offsets (gaps) are only those the lane saw skipped; the offset
to commit starts exactly at the committed one and ignores duplicate acknowledgements
(``_note_gaps``, ``_new_offset``); and Faust's seek to the committed offsets never stores one below
this worker's own last commit (``perform_seek``). Without them, a partition taken over during
recovery committed one offset per commit interval, or stopped committing
(tests/integration/test_takeover.py, ~1 run in 10).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from faust.utils.functional import consecutive_numbers
from mode.utils.futures import notify

from leadstream.streams.lane_progress import LaneProgress, Mark
from leadstream.streams.outbox import Outbox

__all__ = ["BatchLane", "BatchHandler", "BatchLaneConsumerMixin", "InFlight"]

log = logging.getLogger(__name__)

_FINAL_COMMIT_TIMEOUT_S = 10.0
#: a fetch's outbox is sent early once it holds this many records: a burst fetch can hold many MB
#: per partition, and keeping all of it until the fetch is done raised peak RSS by ~40 %
_OUTBOX_SEND_AT = 2_000
#: between batches, a fetch's handling gives the loop back once this long has passed since it last
#: did: sending rarely waits (streams/outbox.py), so a burst fetch of many MB otherwise ran for
#: seconds with the producer's sender, the web server (/metrics, /ready) and Faust's timers all
#: waiting for it; once per batch cost ~3 % more CPU in the burst (one run each)
_YIELD_EVERY_S = 0.01

BatchHandler = Callable[[Any, list[Any], Outbox], Awaitable[None]]
"""``handler(tp, records, outbox)``: ``records`` are aiokafka ``ConsumerRecord``s of one partition,
in offset order. The handler queues its outputs on ``outbox``, which all lane batches of one fetch
share: the lane sends it once, after the last of them, so a fetch of many small batches (paced
traffic) makes one Kafka batch per output partition rather than one per output partition and
input batch. Whatever a handler sends and awaits itself is written before it returns."""


class BatchLane:
    """Which topics take the batch lane, and their handlers (one handler per topic)."""

    def __init__(self) -> None:
        self._handlers: dict[str, BatchHandler] = {}
        self.progress = LaneProgress()

    def register(self, topic: str, handler: BatchHandler) -> None:
        if topic in self._handlers:
            raise ValueError(f"topic {topic!r} already has a batch handler")
        self._handlers[topic] = handler

    def subscribe(self, app: Any, topic: Any, handler: BatchHandler) -> None:
        """Subscribe the Faust app to ``topic`` (a ``faust.Topic``, maybe of several names) and
        hand its batches to ``handler``; the app must carry this lane as ``app.batch_lane``."""
        if getattr(app, "batch_lane", None) is not self:
            raise ValueError("the app does not consume through this batch lane")
        for name in topic.topics:
            self.register(name, handler)
        app.topics.add(topic)

    def handler_for(self, topic: str) -> BatchHandler | None:
        return self._handlers.get(topic)


class InFlight:
    """Stands for a batch in Faust's set of unacknowledged messages until its outputs are durable
    (the attributes are the ones ``Consumer.wait_empty`` reads)."""

    __slots__ = ("acked", "refcount", "tp", "progress", "__weakref__")

    def __init__(self, tp: Any, progress: Mark | None = None) -> None:
        self.acked = False
        self.refcount = 1
        self.tp = tp
        self.progress = progress

    def __repr__(self) -> str:
        return f"<batch in flight {self.tp}>"


class BatchLaneConsumerMixin:
    """Mixed into a Faust aiokafka ``Consumer``: ``_drain_messages`` with the batch lane.

    The loop mirrors Faust 0.15's ``Consumer._drain_messages`` and ``getmany`` (flow control,
    generation checks, read offsets, gaps, ``commit_every``); only the dispatch differs.
    """

    app: Any
    _acked: Any
    _acked_index: Any
    _committed_offset: Any
    _read_offset: Any
    _unacked_messages: Any
    _buffered_partitions: Any
    _waiting_for_ack: Any
    _commit_every: Any
    _n_acked: int
    _gap: Any

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # the last offset handed to a handler, per partition of the current assignment
        self._lane_last: dict[Any, int] = {}
        # the highest offset this worker committed, per partition of the current assignment
        self._lane_committed: dict[Any, int] = {}

    async def _drain_messages(self, fetcher: Any) -> None:  # noqa: C901 - mirrors Faust's loop
        lane: BatchLane | None = getattr(self.app, "batch_lane", None)
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

                fetched: list[tuple[Any, list[Any], BatchHandler]] = []
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
                    await asyncio.shield(self._handle(fetched, current))
                    if self._commit_every is not None and self._n_acked >= self._commit_every:
                        self._n_acked = 0
                        # shielded too: cancelled between the broker's answer and Faust's
                        # bookkeeping, a commit leaves its partition unable to commit again
                        # (acked offsets already taken off the list, committed offset not moved)
                        await asyncio.shield(service.commit())
        except service.consumer_stopped_errors:
            if service.transport.app.should_stop:
                return
            raise
        except asyncio.CancelledError:
            if service.transport.app.should_stop:
                return
            raise

    async def on_partitions_revoked(self, revoked: Any) -> None:
        for tp in revoked:
            self._lane_last.pop(tp, None)
            self._lane_committed.pop(tp, None)
        lane: BatchLane | None = getattr(self.app, "batch_lane", None)
        if lane is not None:
            lane.progress.revoked(revoked)
        await super().on_partitions_revoked(revoked)  # type: ignore[misc]

    async def _commit_offsets(self, offsets: Any, start_new_transaction: bool = True) -> bool:
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
        off the acknowledged list, so the commit run could never start again (a takeover stall:
        committed 108 while 136..641 were acknowledged)."""
        await super().perform_seek()  # type: ignore[misc]
        for tp, offset in self._lane_committed.items():
            current = self._committed_offset[tp]
            if current is None or current < offset:
                self._committed_offset[tp] = offset

    async def wait_empty(self) -> None:
        """Faust's, then commit until every acknowledged offset is committed (bounded).

        Faust's final commit can leave acknowledged batches behind: it returns without committing
        while another commit is running, and a partition whose previous commit is still in flight
        cannot commit past it (``_new_offset`` sees a gap until ``_committed_offset`` moves). After
        a clean shutdown those batches would be processed again."""
        service: Any = self
        await super().wait_empty()  # type: ignore[misc]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _FINAL_COMMIT_TIMEOUT_S
        while loop.time() < deadline and any(self._acked.get(tp) for tp in service.assignment()):
            await service.maybe_wait_for_commit_to_finish()
            if not await service.commit():
                await asyncio.sleep(0.05)

    def _unread(self, tp: Any, batch: list[Any]) -> list[Any]:
        """Drop records at or before the read offset (a re-fetch), as Faust does."""
        read = self._read_offset[tp]
        if read is None or batch[0].offset >= read:
            return batch
        return [record for record in batch if record.offset >= read]

    async def _handle(self, fetched: list[tuple[Any, list[Any], BatchHandler]],
                      current: Callable[[], bool]) -> None:
        """Hand each batch of one fetch to its handler, send their shared outbox, and acknowledge
        every batch when all of it is written. ``current()`` turns false when a rebalance begins:
        the batches not handled yet are dropped (read again from the committed offsets)."""
        service: Any = self
        outbox = Outbox(self.app.producer)
        progress = self.app.batch_lane.progress
        handled: list[tuple[Any, list[int], InFlight]] = []
        sent: list[asyncio.Future[Any]] = []
        loop = asyncio.get_running_loop()
        yielded = loop.time()
        try:
            for tp, batch, handler in fetched:
                if len(outbox) >= _OUTBOX_SEND_AT:
                    sent.extend(await outbox.send())
                if loop.time() - yielded >= _YIELD_EVERY_S:
                    await asyncio.sleep(0)
                    yielded = loop.time()
                if not current():
                    break
                marker = InFlight(tp, progress.handling(tp, batch[-1].offset))
                self._unacked_messages.add(marker)
                offsets = [record.offset for record in batch]
                handled.append((tp, offsets, marker))
                self._note_gaps(tp, offsets)
                self._read_offset[tp] = offsets[-1]
                self._lane_last[tp] = offsets[-1]
                await handler(tp, batch, outbox)
            sent.extend(await outbox.send())
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

    def _note_gaps(self, tp: Any, offsets: list[int]) -> None:
        """Offsets the broker skipped (compacted away, transaction markers) count as processed.

        Only offsets known to be skipped: inside the batch, and between the batch and the last
        record this lane handled for the partition (or, for the first batch of an assignment, the
        committed offset). Faust derives the leading gap from ``_read_offset`` instead, which its
        ``perform_seek`` resets to the committed offset while records fetched before that seek are
        still being handled; the gap then covers offsets that were handled (acknowledged twice,
        which stops ``_new_offset`` at every duplicate) or are still in flight (committed before
        their outputs are written)."""
        last = self._lane_last.get(tp)
        if last is None:
            committed = self._committed_offset[tp]
            last = committed - 1 if committed is not None else None
        if last is not None and offsets[0] > last + 1:
            self._skipped(tp, last + 1, offsets[0] - 1)
        for before, after in zip(offsets, offsets[1:]):
            if after - before > 1:
                self._skipped(tp, before + 1, after - 1)

    def _skipped(self, tp: Any, first: int, last: int) -> None:
        # not Faust's ``_add_gap``: it starts gaps one past the committed offset, which only its
        # own off-by-one in ``_new_offset`` makes up for
        gaps = self._gap[tp]
        gaps.addi(first, last + 1)  # intervaltree intervals exclude their end
        gaps.merge_overlaps()

    def _new_offset(self, tp: Any) -> int | None:
        """The offset to commit for ``tp``: one past the run of processed offsets that starts at
        the committed offset (Faust's, made exact for lane topics).

        Faust's own accepts a run that starts one past the committed offset (its gaps start one
        late), and stops at the first duplicate in its list of acknowledged offsets."""
        lane: BatchLane | None = getattr(self.app, "batch_lane", None)
        if lane is None or lane.handler_for(tp.topic) is None:
            return super()._new_offset(tp)  # type: ignore[misc]
        acked = self._acked[tp]
        if not acked:
            return None
        gaps = self._gap[tp]
        if gaps:
            reached = gaps.overlap(0, max(acked) + 1)
            if reached:
                for interval in reached:
                    acked.extend(range(interval.begin, interval.end))
                gaps.chop(0, max(interval.end for interval in reached))
        committed = self._committed_offset[tp]
        done = sorted(set(acked))
        index = self._acked_index[tp]
        if committed is not None:
            stale = [o for o in done if o < committed]
            index.difference_update(stale)
            done = done[len(stale):]
            if not done or done[0] != committed:
                acked[:] = done  # an offset before the first acknowledged one is in flight
                return None
        run = next(consecutive_numbers(done))
        acked[:] = done[len(run):]
        index.difference_update(run)
        return run[-1] + 1

    def _on_outputs(self, fut: asyncio.Future[Any], tp: Any, offsets: list[int],
                    marker: InFlight) -> None:
        if fut.cancelled() or fut.exception() is not None:
            self._settle(marker)
            reason = fut.exception() if not fut.cancelled() else asyncio.CancelledError()
            # never acknowledged, so never committed: processed again after the restart
            log.error("a produced batch for input %s failed (%s); stopping the worker",
                      tp, type(reason).__name__)
            asyncio.ensure_future(self.app.crash(reason))
            return
        self._ack(tp, offsets, marker)

    def _ack(self, tp: Any, offsets: list[int], marker: InFlight) -> None:
        """Faust's ``Consumer.ack`` for a whole batch (same bookkeeping, one call)."""
        committed = self._committed_offset[tp]
        fresh = [o for o in offsets if committed is None or o >= committed]
        index = self._acked_index[tp]
        fresh = [o for o in fresh if o not in index]
        index.update(fresh)
        self._acked[tp].extend(fresh)
        self._n_acked += len(fresh)
        if marker.progress is not None:
            self.app.batch_lane.progress.written(tp, marker.progress)
        self._settle(marker)

    def _settle(self, marker: InFlight) -> None:
        marker.acked = True
        self._unacked_messages.discard(marker)
        notify(self._waiting_for_ack)
