"""The connector's rules (connector/fold.py): the tables do not depend on how the topic is
delivered (partitions interleaved any way, records delivered again), and the rules themselves."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadstream.connector.events import ErasureEvent, MergeEvent, id_hash
from leadstream.connector.fold import fold
from leadstream.connector.store import snapshot_of
from tests.connector_topics import _START, deliveries, lead_event, topics


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.large_base_example])
@given(st.data())
def test_any_delivery_gives_the_tables_of_the_topic(data: st.DataObject) -> None:
    topic = data.draw(topics())
    expected = snapshot_of(fold(topic.in_order()))
    delivered = data.draw(deliveries(topic))
    assert snapshot_of(fold(delivered)) == expected


def test_a_lower_sequence_never_overwrites_a_higher_one() -> None:
    tables = fold([lead_event("L1", 2, _START, owner="ben"), lead_event("L1", 1, _START, owner="ana")])
    assert tables.leads["L1"]["sequence"] == 2 and tables.leads["L1"]["owner"] == "ben"
    assert set(tables.transitions) == {"t-L1-0-1", "t-L1-0-2"}


def test_a_merge_repoints_the_absorbed_lead_whichever_comes_first() -> None:
    merge = MergeEvent("m1", "S", "A", "explicit", _START + timedelta(hours=1))
    events = [lead_event("S", 1, _START), lead_event("A", 1, _START), lead_event("A", 2, _START)]
    for order in (events + [merge], [merge] + events, [events[0], merge, *events[1:]]):
        tables = fold(order)
        assert set(tables.leads) == {"S"}
        assert {r["lead_id"] for r in tables.transitions.values()} == {"S"}
        assert tables.transitions["t-A-0-2"]["published_lead_id"] == "A"


def test_an_erasure_removes_the_person_and_keeps_only_hashes() -> None:
    erase = ErasureEvent("x1", "S", ("A",), _START + timedelta(hours=2))
    merge = MergeEvent("m1", "S", "A", "explicit", _START + timedelta(hours=1))
    late_alias = lead_event("A", 1, _START)  # from another partition, after the erasure
    back = lead_event("S", 1, _START + timedelta(days=3), generation=1)  # the person returns
    tables = fold([lead_event("S", 1, _START), merge, erase, late_alias,
                   lead_event("S", 1, _START), back])
    assert set(tables.leads) == {"S"} and tables.leads["S"]["last_transition_id"] == "t-S-1-1"
    assert set(tables.transitions) == {"t-S-1-1"}
    assert not tables.merges
    assert set(tables.erased_ids) == {id_hash("S"), id_hash("A")}
    # the late alias event is remembered as erased too, as if it had come before the erasure
    assert tables.erased_events == {"t-S-0-1", "m1", "t-A-0-1"}
