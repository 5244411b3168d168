"""VisitorShortcut: ingest sends a linked visitor's touchpoint straight to its lead when that keeps
the visitor's order.

Tracking cookies come with every touchpoint, so once a visitor is linked each of its touchpoints
goes to the visitor first (keyed by the cookie) and the retired visitor forwards it to the lead
(core.identity_flow): a second pass through the lead-messages topic for most touchpoints of
known people, one more hop of latency each (benchmarks/latency.py measures it). Ingest can do the forward
itself — the retired visitor's answer (``forward``) depends on nothing but its being retired —
but only where nothing the visitor was sent before can still be on its way to the lead, or the
lead would apply the visitor's touchpoints out of their input order (README, "Guarantees").

So ingest forwards a message addressed to visitor ``V`` itself only when all of these hold, and
otherwise sends it to ``V`` as before:

- this worker handles ``V``'s lead-messages partition, and has written the outputs of everything
  that was in it when the partition was assigned (streams/lane/progress.py): messages sent by an
  earlier process or before a rebalance are all handled;
- every message this ingest sent to ``V`` is handled, and the outputs of its batch (the forward
  to the lead among them) are written: the lead's partition holds them before this one;
- ``V`` is retired (read now, from the lead handler's cache or RocksDB: an erased visitor is not
  retired any more).

Forwards of one process land in order per partition (streams/lane/outbox.py), and a rebalance waits
until every handled batch's outputs are written (streams/lane/upstream.py), so what ingest sends
before a rebalance is in the partition when the next assignment's catch-up mark is taken; the
tracking is therefore dropped at each generation change.

Messages from other input partitions, other workers or other topics have no order with these, as
before. The shortcut helps only where this worker handles the visitor's partition: with N workers,
about 1/N of linked visitors' touchpoints.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from faust.types import TP

from leadstream.core.emitted import Send
from leadstream.core.identity_flow import event_id_of, forward
from leadstream.core.messages import Message, Touchpoint
from leadstream.core.state import LeadState
from leadstream.streams.encoding.codecs import retired_into
from leadstream.streams.lane.outbox import partition_for
from leadstream.streams.lane.upstream import partition_db

if TYPE_CHECKING:
    import faust
    from faust.types.tables import CollectionT

    from leadstream.streams.lane.progress import LaneProgress
    from leadstream.streams.services.state_cache import StateCache

__all__ = ["VisitorShortcut", "event_id_of"]

#: tracked visitors past which the settled ones, and those of partitions this worker does not
#: handle, are dropped
_SWEEP_AT = 100_000


class VisitorShortcut:
    def __init__(self, app: faust.App, topic: str, leads_table: CollectionT, cache: StateCache,
                 progress: LaneProgress) -> None:
        self._app = app
        self._topic = topic
        self._leads = leads_table
        self._cache = cache
        self._progress = progress
        self._generation: int | None = None
        #: visitor key → event ids this ingest sent it that the lead handler has not reached
        self._inflight: dict[bytes, list[str]] = {}
        #: visitor key → (partition, offset) of the last of them, once reached: settled when it
        #: is written. Most visitors are never seen again, so settled entries are pruned.
        self._handled_at: dict[bytes, tuple[int, int]] = {}
        # sizes at which _forget runs next (twice what it left, so it stays rare)
        self._forget_inflight_at = _SWEEP_AT
        self._forget_handled_at = _SWEEP_AT

    def route(self, message: Message) -> tuple[Message, str | None]:
        """What ingest sends for ``message``: itself, or the touchpoint the retired visitor would
        forward, with the identity note to count."""
        event_id = event_id_of(message)
        if event_id is None:
            return message, None
        self._new_generation()
        key = message.lead_id.encode()
        if key not in self._inflight:  # else it waits for those anyway (most, in a backlog)
            forwarded = self._forwarded(key, message)
            if forwarded is not None:
                return forwarded
        if len(self._inflight) >= self._forget_inflight_at:
            self._forget()
            self._forget_inflight_at = max(_SWEEP_AT, 2 * len(self._inflight))
        self._inflight.setdefault(key, []).append(event_id)
        return message, None

    def _forwarded(self, key: bytes, message: Message) -> tuple[Message, str] | None:
        """The retired visitor's forward of ``message``, if ingest may send it now."""
        partition = partition_for(self._app.producer, self._topic, key)
        if partition is None:
            return None
        written = self._progress.caught_up(TP(self._topic, partition))
        if written is None or not self._settled(key, written):
            return None
        retired = self._retired(partition, key)
        if retired is None:
            return None
        out = forward(retired, message)
        if len(out) != 1 or not isinstance(out[0], Send) or \
                not isinstance(out[0].message, Touchpoint):
            return None
        return out[0].message, ("link_conflict" if out[0].note == "link_conflict"
                                else "forwarded_at_ingest")

    def reached(self, key: bytes, event_id: str, partition: int, offset: int) -> None:
        """The lead handler reached the message with the touchpoint ``event_id`` (``event_id_of``)
        for ``key``, at ``offset`` of ``partition``."""
        events = self._inflight.get(key)
        if events is None or events[0] != event_id:
            return
        del events[0]
        if not events:
            del self._inflight[key]
            if len(self._handled_at) >= self._forget_handled_at:
                self._forget()
                self._forget_handled_at = max(_SWEEP_AT, 2 * len(self._handled_at))
            self._handled_at[key] = (partition, offset)

    def _settled(self, key: bytes, written: int) -> bool:
        at = self._handled_at.get(key)
        if at is None:
            return True
        if at[1] < written:
            del self._handled_at[key]
            return True
        return False

    def _retired(self, partition: int, key: bytes) -> LeadState | None:
        """The visitor's state if it is retired (only forwards), else ``None``."""
        state = self._cache.get(key)
        if state is not None:
            return state if state.merged_into is not None else None
        raw = partition_db(self._leads, partition).get(key)
        into = retired_into(raw) if raw is not None else None
        return LeadState(lead_id=key.decode(), merged_into=into) if into is not None else None

    def _new_generation(self) -> None:
        generation = self._app.consumer_generation_id
        if generation != self._generation:
            self._generation = generation
            self._inflight.clear()
            self._handled_at.clear()

    def _forget(self) -> None:
        """Drop what no longer matters: visitors whose last message's outputs are written (they
        are settled either way; most visitors are never seen again), and visitors of partitions
        another worker handles (never reached here; their next assignment is a new generation)."""
        assigned = {tp.partition for tp in self._app.consumer.assignment()
                    if tp.topic == self._topic}
        for key in list(self._inflight):
            if partition_for(self._app.producer, self._topic, key) not in assigned:
                del self._inflight[key]
        written: dict[int, int | None] = {}
        for key, (partition, _) in list(self._handled_at.items()):
            if partition not in written:
                written[partition] = self._progress.caught_up(TP(self._topic, partition))
            upto = written[partition]
            if partition not in assigned:
                del self._handled_at[key]
            elif upto is not None:
                self._settled(key, upto)  # forgets it once settled
