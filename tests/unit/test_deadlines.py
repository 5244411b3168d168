"""The worker's deadline index: lazy heap plus the rule for when the deadlines table is written."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from leadstream.streams.services.deadlines import DeadlineIndex, decode_deadline, encode_deadline, index_update

_times = st.floats(min_value=0, max_value=4e9, allow_nan=False)


@given(st.lists(st.tuples(st.binary(min_size=1, max_size=8), _times), max_size=50), _times)
def test_pop_due_returns_exactly_the_due_entries_earliest_first(entries: list, now: float) -> None:  # type: ignore[type-arg]
    index = DeadlineIndex()
    for key, at in entries:
        index.push(key, at)
    due = index.pop_due(now, limit=len(entries) + 1)
    assert [at for _, at in due] == sorted(at for _, at in entries if at <= now)
    assert len(index) == sum(1 for _, at in entries if at > now)


def test_pop_due_respects_the_limit_and_keeps_the_rest() -> None:
    index = DeadlineIndex()
    for i in range(10):
        index.push(b"k%d" % i, float(i))
    assert [k for k, _ in index.pop_due(100.0, limit=3)] == [b"k0", b"k1", b"k2"]
    assert len(index) == 7


def test_rebuild_replaces_the_heap_from_table_entries() -> None:
    index = DeadlineIndex()
    index.push(b"stale", 1.0)
    index.rebuild([(b"a", encode_deadline(5.0)), (b"b", encode_deadline(2.5))], generation=7)
    assert index.generation == 7
    assert index.pop_due(10.0, limit=10) == [(b"b", 2.5), (b"a", 5.0)]


@given(_times)
def test_deadline_codec_round_trips_exactly(at: float) -> None:
    assert decode_deadline(encode_deadline(at)) == at


def test_the_table_only_moves_earlier_except_after_a_tick() -> None:
    assert index_update(None, 10.0, after_tick=False) == (True, 10.0)
    assert index_update(10.0, 5.0, after_tick=False) == (True, 5.0)
    assert index_update(10.0, 20.0, after_tick=False) == (False, 10.0)  # the tick at 10 re-indexes
    assert index_update(10.0, None, after_tick=False) == (False, 10.0)
    assert index_update(None, None, after_tick=False) == (False, None)
    assert index_update(10.0, 20.0, after_tick=True) == (True, 20.0)
    assert index_update(10.0, None, after_tick=True) == (True, None)
    assert index_update(None, None, after_tick=True) == (False, None)
    assert index_update(20.0, 20.0, after_tick=True) == (False, 20.0)
