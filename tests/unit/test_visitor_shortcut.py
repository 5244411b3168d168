"""Ingest forwards a linked visitor's touchpoint itself only when nothing sent to the visitor
before can still be on its way to the lead (streams/services/visitor_shortcut.py), and the lane's progress
says how far each partition's outputs are written (streams/lane/progress.py)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
from faust.types import TP

from leadstream.core.identity_flow import event_id_of
from leadstream.core.messages import Link, Message, Touchpoint
from leadstream.core.state import LeadState
from leadstream.streams.lane import outbox as outbox_module
from leadstream.streams.encoding.codecs import encode_state
from leadstream.streams.lane.progress import LaneProgress
from leadstream.streams.services.state_cache import StateCache
from leadstream.streams.services.visitor_shortcut import VisitorShortcut
from tests.factories import core_link, core_touchpoint, faust_producer

TOPIC = "lead-messages"
OTHER_WORKERS = b"anon-elsewhere"  # keys of this prefix land on partition 1, not handled here


class _Metadata:
    def partitions_for_topic(self, topic: str) -> set[int] | None:
        return {0, 1} if topic == TOPIC else None

    def available_partitions_for_topic(self, topic: str) -> set[int]:
        return {0, 1}


@dataclass
class Setup:
    shortcut: VisitorShortcut
    progress: LaneProgress
    app: Any
    cache: StateCache
    stored: dict[int, dict[bytes, bytes]] = field(default_factory=lambda: {0: {}, 1: {}})
    next_offset: dict[int, int] = field(default_factory=lambda: {0: 0, 1: 0})

    def retire(self, visitor: str, into: str, partition: int = 0) -> None:
        self.stored[partition][visitor.encode()] = encode_state(
            LeadState(lead_id=visitor, merged_into=into))

    def handle(self, *records: tuple[bytes, Message], partition: int = 0,
               written: bool = True) -> Any:
        """The lead handler takes the next records of ``partition`` as one batch."""
        tp = TP(TOPIC, partition)
        first = self.next_offset[partition]
        self.progress.fetched(tp, first + len(records))
        mark = self.progress.handling(tp, first + len(records) - 1)
        for offset, (key, message) in enumerate(records, start=first):
            event_id = event_id_of(message)
            if event_id is not None:  # as the lead planner reports them
                self.shortcut.reached(key, event_id, partition, offset)
        self.next_offset[partition] = first + len(records)
        if written:
            self.progress.written(tp, mark)
        return mark

    def catch_up(self, partition: int = 0) -> None:
        """The partition's first batch of this assignment is handled and written."""
        self.handle((b"L-other", core_touchpoint(lead_id="other")), partition=partition)


@pytest.fixture
def setup_factory() -> Iterator[Any]:
    outbox_module._partition_cache.clear()

    def make() -> Setup:
        kafka = SimpleNamespace(
            _metadata=_Metadata(),
            _partitioner=lambda key, every, available: 1 if key.startswith(OTHER_WORKERS) else 0,
        )
        app = SimpleNamespace(producer=faust_producer(kafka), consumer_generation_id=1,
                              consumer=SimpleNamespace(assignment=lambda: {TP(TOPIC, 0)}))
        cache = StateCache(10, 10)
        progress = LaneProgress()
        stored: dict[int, dict[bytes, bytes]] = {0: {}, 1: {}}  # RocksDB per partition
        table = SimpleNamespace(data=SimpleNamespace(_db_for_partition=stored.__getitem__))
        return Setup(VisitorShortcut(app, TOPIC, table, cache, progress), progress, app, cache,
                     stored)

    yield make
    outbox_module._partition_cache.clear()


def _key(message: Message) -> bytes:
    return message.lead_id.encode()


def test_a_retired_visitors_link_goes_straight_to_the_lead(setup_factory: Any) -> None:
    s = setup_factory()
    s.catch_up()
    s.retire("anon-ck", into="L1")
    link = core_link("ck", event_id="e1")

    sent, note = s.shortcut.route(link)

    assert sent == link.touchpoint and sent.lead_id == "L1"
    assert note == "forwarded_at_ingest"


def test_an_anonymous_touchpoint_of_a_retired_visitor_goes_to_the_lead_it_was_merged_into(
        setup_factory: Any) -> None:
    s = setup_factory()
    s.catch_up()
    s.retire("anon-ck", into="L7")
    visit = core_touchpoint(lead_id=None, anonymous_id="ck", event_id="e1")

    sent, note = s.shortcut.route(visit)

    assert isinstance(sent, Touchpoint) and sent.lead_id == "L7" and sent.event_id == "e1"
    assert note == "forwarded_at_ingest"


def test_a_cookie_seen_with_a_second_contact_is_forwarded_and_counted_as_a_conflict(
        setup_factory: Any) -> None:
    s = setup_factory()
    s.catch_up()
    s.retire("anon-ck", into="L1")

    sent, note = s.shortcut.route(core_link("ck", lead_id="L2"))

    assert sent.lead_id == "L2" and note == "link_conflict"


@pytest.mark.parametrize("state", ["none", "live"])
def test_a_visitor_not_retired_gets_its_message(setup_factory: Any, state: str) -> None:
    s = setup_factory()
    s.catch_up()
    if state == "live":
        s.cache.put(b"anon-ck", LeadState(lead_id="anon-ck"))
    link = core_link("ck")

    assert s.shortcut.route(link) == (link, None)


def test_nothing_is_forwarded_before_the_partition_is_caught_up(setup_factory: Any) -> None:
    s = setup_factory()
    s.retire("anon-ck", into="L1")
    s.retire("anon-ck2", into="L1")
    s.retire("anon-ck3", into="L1")
    link = core_link("ck")
    assert s.shortcut.route(link) == (link, None)  # not fetched yet in this assignment

    tp = TP(TOPIC, 0)
    s.progress.fetched(tp, 10)  # 10 records were there when the partition was assigned
    s.progress.written(tp, s.progress.handling(tp, 4))
    other = core_link("ck2")
    assert s.shortcut.route(other) == (other, None)

    s.progress.written(tp, s.progress.handling(tp, 9))
    assert s.shortcut.route(core_link("ck3"))[1] == "forwarded_at_ingest"


def test_a_visitor_waits_until_what_it_was_sent_is_handled_and_written(
        setup_factory: Any) -> None:
    s = setup_factory()
    s.catch_up()
    s.retire("anon-ck", into="L1")
    s.cache.put(b"anon-ck", LeadState(lead_id="anon-ck"))  # still live when e1 is routed
    first = core_link("ck", event_id="e1")
    assert s.shortcut.route(first) == (first, None)
    s.cache.discard(b"anon-ck")  # the handler retires it while handling e1

    second = core_link("ck", event_id="e2")
    assert s.shortcut.route(second) == (second, None), "e1 not handled yet"

    s.handle((b"anon-ck", first))
    mark = s.handle((b"anon-ck", second), written=False)  # everything before it is written
    third = core_link("ck", event_id="e3")
    assert s.shortcut.route(third) == (third, None), "handled, but the forward is not written"

    s.progress.written(TP(TOPIC, 0), mark)
    s.handle((b"anon-ck", third))
    fourth = core_link("ck", event_id="e4")
    assert s.shortcut.route(fourth) == (fourth.touchpoint, "forwarded_at_ingest")


def test_batches_written_out_of_order_move_the_position_only_over_the_oldest(
        setup_factory: Any) -> None:
    s = setup_factory()
    s.catch_up()
    s.retire("anon-ck", into="L1")
    s.cache.put(b"anon-ck", LeadState(lead_id="anon-ck"))
    first = core_link("ck", event_id="e1")
    s.shortcut.route(first)
    s.cache.discard(b"anon-ck")
    older = s.handle((b"L-x", core_touchpoint(lead_id="x")), written=False)
    s.handle((b"anon-ck", first))  # written before the older batch

    assert s.progress.caught_up(TP(TOPIC, 0)) == 1

    s.progress.written(TP(TOPIC, 0), older)
    assert s.progress.caught_up(TP(TOPIC, 0)) == 3
    assert s.shortcut.route(core_link("ck"))[1] == "forwarded_at_ingest"


def test_a_resent_duplicate_does_not_stand_for_a_message_behind_it(setup_factory: Any) -> None:
    s = setup_factory()
    s.catch_up()
    s.retire("anon-ck", into="L1")
    s.cache.put(b"anon-ck", LeadState(lead_id="anon-ck"))
    sent = [core_link("ck", event_id=e) for e in ("e1", "e0", "e1")]
    for message in sent:
        s.shortcut.route(message)
    s.cache.discard(b"anon-ck")

    s.handle((b"anon-ck", sent[0]))  # the first e1; e0 and the second e1 are on their way
    assert s.shortcut.route(core_link("ck", event_id="e5"))[1] is None

    s.handle((b"anon-ck", sent[1]), (b"anon-ck", sent[2]))
    assert s.shortcut.route(core_link("ck", event_id="e6"))[1] is None, "e5 is on its way now"


def test_a_visitor_of_a_partition_handled_elsewhere_gets_its_message(setup_factory: Any) -> None:
    s = setup_factory()
    s.catch_up()
    s.retire("anon-elsewhere-1", into="L1", partition=1)
    link = core_link("elsewhere-1")

    assert s.shortcut.route(link) == (link, None)


def test_a_new_generation_starts_with_a_catch_up(setup_factory: Any) -> None:
    s = setup_factory()
    s.catch_up()
    s.retire("anon-ck", into="L1")
    s.cache.put(b"anon-ck", LeadState(lead_id="anon-ck"))
    s.shortcut.route(core_link("ck", event_id="e1"))  # to the visitor; never reached here
    s.cache.discard(b"anon-ck")

    s.progress.revoked([TP(TOPIC, 0)])
    s.app.consumer_generation_id = 2
    assert s.progress.caught_up(TP(TOPIC, 0)) is None
    again = core_link("ck", event_id="e2")
    assert s.shortcut.route(again) == (again, None)

    s.handle((b"anon-ck", again))  # the first batch of the new assignment
    assert s.shortcut.route(core_link("ck"))[1] == "forwarded_at_ingest"


def test_a_batch_of_a_revoked_assignment_written_late_moves_nothing() -> None:
    progress = LaneProgress()
    tp = TP(TOPIC, 0)
    progress.fetched(tp, 5)
    old = progress.handling(tp, 4)
    progress.revoked([tp])
    progress.fetched(tp, 9)

    progress.written(tp, old)

    assert progress.caught_up(tp) is None


def test_touchpoints_with_a_contact_are_neither_routed_nor_tracked(setup_factory: Any) -> None:
    s = setup_factory()
    s.catch_up()
    direct = core_touchpoint(lead_id="L1")

    assert s.shortcut.route(direct) == (direct, None)
    assert not isinstance(direct, Link) and s.shortcut._inflight == {}


def test_settled_visitors_are_forgotten_once_many_are_tracked(
        setup_factory: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Most visitors are seen once: what is tracked about them must not grow without bound."""
    monkeypatch.setattr("leadstream.streams.services.visitor_shortcut._SWEEP_AT", 10)
    s = setup_factory()
    s.catch_up()
    visits = [core_touchpoint(lead_id=None, anonymous_id=f"once-{i}") for i in range(30)]
    for visit in visits:
        s.shortcut.route(visit)
    for visit in visits[:25]:
        s.handle((_key(visit), visit))  # each batch written
    s.handle(*((_key(v), v) for v in visits[25:]), written=False)

    tracked = len(s.shortcut._handled_at) + len(s.shortcut._inflight)
    assert tracked <= 15, tracked
    s.shortcut._forget()
    # what is not written yet is still waited for, the first of it right at the written mark
    assert set(s.shortcut._handled_at) == {_key(v) for v in visits[25:]}
