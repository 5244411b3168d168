"""One contract for every database the connector writes to (run by tests/unit with SQLite and by
tests/integration with a real PostgreSQL server): the tables equal the pure fold
(connector/fold.py) for any delivery of a plausible topic, in any batches, applied twice or not."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadstream.connector.events import parse_handover
from leadstream.connector.fold import fold
from leadstream.connector.store import Reject, Store, Verdict, snapshot_of
from tests.connector_topics import deliveries, topics

__all__ = ["ContractTests", "store_factory"]

StoreFactory = Callable[[], Store]


def store_factory(open_url: Callable[[], str]) -> Iterator[StoreFactory]:
    """A subclass's ``fresh_store`` fixture: a migrated, empty store per call on a new database
    from ``open_url``; one open at a time (a hypothesis example's store is done when the next
    one starts)."""
    opened: list[Store] = []

    def make() -> Store:
        while opened:
            opened.pop().close()
        store = Store.open(open_url())
        store.migrate()
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


class ContractTests:
    """Subclass with a ``fresh_store`` fixture (:func:`store_factory`) and a ``new_database``
    fixture (a function that returns the URL of a new, empty database, for tests that open it
    twice)."""

    def test_one_store_at_a_time_writes_to_a_database(
            self, new_database: Callable[[], str]) -> None:
        url = new_database()
        first, second = Store.open(url), Store.open(url)
        try:
            first.migrate()
            assert first.try_lead() and first.try_lead()  # asking again keeps it
            assert not second.try_lead()
            first.close()  # (a process that ends, however it ends, closes it)
            assert second.try_lead()
            third = Store.open(url)
            try:
                assert not third.try_lead()
            finally:
                third.close()
        finally:
            second.close()

    def test_migrations_are_applied_once(self, fresh_store: StoreFactory) -> None:
        store = fresh_store()
        assert store.schema_version() == 1
        assert store.migrate() == []

    @settings(max_examples=60, deadline=None,
              # one contract, one subclass per backend: the same method on two classes is meant
              suppress_health_check=[HealthCheck.large_base_example,
                                     HealthCheck.function_scoped_fixture,
                                     HealthCheck.differing_executors])
    @given(st.data())
    def test_tables_equal_the_fold_of_any_delivery(self, fresh_store: StoreFactory,
                                                   data: st.DataObject) -> None:
        topic = data.draw(topics())
        delivered = data.draw(deliveries(topic))
        store = fresh_store()
        cut = 0
        while cut < len(delivered):
            size = data.draw(st.integers(1, 6))
            batch = delivered[cut:cut + size]
            store.apply(batch)
            if data.draw(st.booleans()):  # a crash before the offset commit: the batch again
                store.apply(batch)
            cut += size
        assert store.snapshot() == snapshot_of(fold(topic.in_order()))

    def test_offsets_are_kept_with_the_rows_and_never_go_back(self, fresh_store: StoreFactory) -> None:
        store = fresh_store()
        store.apply([], offsets={("lead-handover", 0): 10, ("lead-handover", 3): 4})
        store.apply([], offsets={("lead-handover", 0): 7})
        assert store.offsets("lead-handover") == {0: 10, 3: 4}
        assert store.offsets("other") == {}

    def test_a_failed_batch_leaves_nothing(self, fresh_store: StoreFactory) -> None:
        store = fresh_store()
        with pytest.raises(RuntimeError):
            store.apply(_Exploding([parse_handover(_EXAMPLE)]), offsets={("lead-handover", 0): 5})
        assert store.snapshot()["transitions"] == {}
        assert store.offsets("lead-handover") == {}

    def test_rejects_keep_the_bytes(self, fresh_store: StoreFactory) -> None:
        store = fresh_store()
        store.apply([], rejects=[Reject("lead-handover", 2, 17, "invalid_json", "bad", b"{nope")])
        assert store.rejects() == [("lead-handover", 2, 17, "invalid_json", "bad")]

    def test_verdicts_wait_until_sent(self, fresh_store: StoreFactory) -> None:
        store = fresh_store()
        at = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
        store.add_verdict(Verdict("fb-1", "em-1", "accepted", at, None, "greta.h", None))
        store.add_verdict(Verdict("fb-2", "em-2", "won", at, "signed", None, 1200.0,
                                  {"budget": 5000.0}))
        store.add_verdict(Verdict("fb-1", "em-1", "rejected", at, None, None, None))  # a re-click
        pending = store.pending_verdicts()
        assert [(v.feedback_id, v.verdict, v.occurred_at, v.amount, v.bant) for v in pending] == [
            ("fb-1", "accepted", at, None, None), ("fb-2", "won", at, 1200.0, {"budget": 5000.0})]
        store.verdicts_done(["fb-1"], {"fb-2": "invalid_field: reason"})
        assert store.pending_verdicts() == []


class _Exploding(list):  # type: ignore[type-arg]
    """A batch whose second element cannot be written: the transaction must roll back."""

    def __iter__(self):  # type: ignore[no-untyped-def]
        yield from super().__iter__()
        raise RuntimeError("the database went away mid-batch")


_EXAMPLE = (b'{"schema_version": 1, "kind": "stage_transition", "transition_id": "t1", '
            b'"lead_id": "em-1", "sequence": 1, "from_stage": "visitor", "to_stage": "mgl", '
            b'"reason": "contact_identified", "detail": null, '
            b'"occurred_at": "2026-11-01T10:00:00Z", '
            b'"trigger": {"event_id": "e1", "type": "form_submit", "occurred_at": "2026-11-01T10:00:00Z"}, '
            b'"score": 15.0, "grade": "A", "fit_points": 60.0, "matrix": "A3", "temperature": "warm", '
            b'"scores": {"default": 15.0}, "top_contributors": [], "recent_touchpoints": [], '
            b'"profile": {"company": "ACME"}, "bant": {}, "bant_status": "open", '
            b'"routing": {"team": "dach", "owner": "greta.h", "rule": "dach", "previous_owner": null}, '
            b'"model": {"name": "default", "version": "1"}, "attribution": null, "account_id": null}')
