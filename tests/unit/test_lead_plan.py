"""The lead handler's planner, driven with a dict as the store: what a batch writes and sends, in
which order, and that a poison record, a retired id, an erasure and a visitor's hand-over come out
as the pure core says."""

from __future__ import annotations

import ast
import base64
import dataclasses
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest

import leadstream.agents.leads.plan as plan_module
from leadstream.agents.leads.plan import (
    DEADLINES,
    LEADS,
    STATS,
    LeadPlan,
    LeadTopics,
    plan_batch,
)
from leadstream.core import apply
from leadstream.core.apply import next_deadline
from leadstream.core.messages import Erase, Message, Touchpoint
from leadstream.core.model import ModelSet
from leadstream.core.state import LeadState
from leadstream.streams.encoding.codecs import (
    decode_generation,
    decode_state,
    encode_message,
    encode_state,
    erased_key,
)
from leadstream.streams.services.funnel import decode_counts, stats_key
from tests.factories import core_link, core_touchpoint, make_model
from tests.lead_world import Record as WorldRecord

MODELS = ModelSet.of(make_model())
TOPICS = LeadTopics(handover="handover", lead_messages="lead-messages", dlq="dlq",
                    nurture="nurture", account_messages="account-messages")
PARTITION = 3


@dataclass(frozen=True)
class Record(WorldRecord):
    """A lead-messages record of this test's partition."""

    partition: int = PARTITION


class DictStore:
    """The three tables of one partition, and the handler's cache, as dicts."""

    def __init__(self) -> None:
        self.tables: dict[str, dict[bytes, bytes]] = {LEADS: {}, DEADLINES: {}, STATS: {}}
        self.cache: dict[bytes, LeadState] = {}

    def cached(self, key: bytes) -> LeadState | None:
        return self.cache.get(key)

    def stored(self, table: str, key: bytes) -> bytes | None:
        return self.tables[table].get(key)

    def carry_out(self, plan: LeadPlan) -> None:
        for write in plan.writes:
            if write.value is None:
                self.tables[write.table].pop(write.key, None)
            else:
                self.tables[write.table][write.key] = write.value
        for key in plan.dropped:
            self.cache.pop(key, None)
        self.cache.update(plan.cache)

    def state(self, lead: str) -> LeadState | None:
        raw = self.tables[LEADS].get(lead.encode())
        return decode_state(raw) if raw is not None else None


def _records(*items: Message | bytes, start: int = 0, key: bytes = b"L1") -> list[Record]:
    """Records at consecutive offsets; raw bytes are a record of ``key`` that is not a message."""
    return [Record(key, item, offset) if isinstance(item, bytes)
            else Record(item.lead_id.encode(), encode_message(item), offset)
            for offset, item in enumerate(items, start=start)]


def _core(*messages: Message) -> tuple[LeadState | None, list[object]]:
    state: LeadState | None = None
    emitted: list[object] = []
    for message in messages:
        state, out = apply(state, message, MODELS)
        emitted.extend(out)
    return state, emitted


def _handovers(plan: LeadPlan) -> list[dict[str, object]]:
    """The stage transitions among the handover records."""
    return [record for out in plan.outputs if out.topic == "handover"
            if (record := orjson.loads(out.value))["kind"] == "stage_transition"]


def test_a_batch_writes_each_lead_once_and_publishes_what_the_core_emits() -> None:
    store = DictStore()
    l1 = [core_touchpoint("form_submit", at=0), core_touchpoint("demo_request", at=60)]
    l2 = [core_touchpoint("web_visit", lead_id="L2", at=30)]
    plan = plan_batch(_records(l1[0], l2[0], l1[1]), store, MODELS, TOPICS, PARTITION)
    expected, emitted = _core(*l1)
    assert [w.key for w in plan.writes if w.table == LEADS] == [b"L1", b"L2"]
    store.carry_out(plan)
    assert store.state("L1") == expected
    assert store.state("L2") == _core(*l2)[0]
    transitions = [e for e in emitted if type(e).__name__ == "Transition"]
    assert [h["transition_id"] for h in _handovers(plan) if h["lead_id"] == "L1"] == \
        [t.transition_id for t in transitions]  # type: ignore[attr-defined]
    assert plan.first == []  # nothing here must be in Kafka before the state
    assert b"L1" in store.tables[DEADLINES]  # an MQL has an SLA to watch
    assert set(store.tables[DEADLINES]) == {key for key, _ in plan.due}
    funnel = decode_counts(store.tables[STATS][stats_key(PARTITION)])
    assert sum(funnel["stages"].values()) == 2
    assert plan.counts.touchpoints[("form_submit", "scored")] == 1
    assert plan.counts.cache_misses == 2 and plan.counts.cache_hits == 0
    assert plan.cache == {b"L1": expected, b"L2": store.state("L2")}


def test_a_poison_record_goes_to_the_dlq_and_the_batch_goes_on(
        monkeypatch: pytest.MonkeyPatch) -> None:
    store = DictStore()
    before = [core_touchpoint("form_submit", at=0)]
    poison = core_touchpoint("web_visit", event_id="poison", at=10)
    after = [core_touchpoint("demo_request", at=20)]
    real_apply = plan_module.apply

    def failing_apply(state: LeadState | None, message: Message, models: ModelSet,
                      **kwargs: int) -> tuple[LeadState | None, list[object]]:
        if isinstance(message, Touchpoint) and message.event_id == "poison":
            assert state is not None
            state.touchpoints += 100  # changed in place before it fails
            raise ZeroDivisionError("a bug in the core")
        return real_apply(state, message, models, **kwargs)

    monkeypatch.setattr(plan_module, "apply", failing_apply)
    records = _records(*before, b"{not a message", poison, *after)
    plan = plan_batch(records, store, MODELS, TOPICS, PARTITION)
    assert [(p.record.offset, type(p.error).__name__) for p in plan.poison] == \
        [(1, "JSONDecodeError"), (2, "ZeroDivisionError")]
    dlq = [orjson.loads(out.value) for out in plan.outputs if out.topic == "dlq"]
    assert [(d["kind"], d["source"]["offset"]) for d in dlq] == \
        [("internal_error", 1), ("internal_error", 2)]
    assert [r.kind for r in plan.rejected] == ["internal_error", "internal_error"]
    store.carry_out(plan)
    assert store.state("L1") == _core(*before, *after)[0]  # as if the poison was never there


def test_a_retired_id_forwards_and_is_rewritten_only_when_read_from_rocksdb() -> None:
    store = DictStore()
    retired = LeadState(lead_id="anon-v1", merged_into="L1")
    store.tables[LEADS][b"anon-v1"] = encode_state(retired)
    visit = core_touchpoint("web_visit", lead_id=None, anonymous_id="v1", at=5)
    plan = plan_batch(_records(visit), store, MODELS, TOPICS, PARTITION)
    (forward,) = plan.outputs
    assert (forward.topic, forward.key) == ("lead-messages", b"L1")
    # read from RocksDB: rewritten, in case its changelog record was never sent before a crash
    assert [(w.table, w.key) for w in plan.writes] == [(LEADS, b"anon-v1")]
    store.carry_out(plan)
    again = plan_batch(_records(core_touchpoint("web_visit", lead_id=None, anonymous_id="v1",
                                                at=6), start=1),
                       store, MODELS, TOPICS, PARTITION)
    assert again.counts.cache_hits == 1
    assert again.writes == [] and [o.key for o in again.outputs] == [b"L1"]


def test_an_erasure_is_published_first_and_a_returning_person_starts_a_new_generation() -> None:
    store = DictStore()
    store.carry_out(plan_batch(_records(core_touchpoint("form_submit", at=0)), store, MODELS,
                               TOPICS, PARTITION))
    assert store.state("L1") is not None
    erase = Erase(erase_id="er-1", lead_id="L1", at=100.0)
    plan = plan_batch(_records(erase, start=1), store, MODELS, TOPICS, PARTITION)
    assert [orjson.loads(out.value)["kind"] for out in plan.first] == ["erased"]
    assert plan.dropped == [b"L1"]
    store.carry_out(plan)
    assert store.state("L1") is None and b"L1" not in store.tables[DEADLINES]
    assert decode_generation(store.tables[LEADS][erased_key(b"L1")]) == 1
    back = core_touchpoint("form_submit", at=200)
    returned = plan_batch(_records(back, start=2), store, MODELS, TOPICS, PARTITION)
    store.carry_out(returned)
    state = store.state("L1")
    assert state is not None and state.generation == 1
    never_erased = _handovers(plan_batch(_records(back), DictStore(), MODELS, TOPICS, PARTITION))
    assert [h["transition_id"] for h in _handovers(returned)] != \
        [h["transition_id"] for h in never_erased]


def test_a_visitors_hand_over_goes_first_and_ingest_hears_of_it() -> None:
    store = DictStore()
    visit = core_touchpoint("web_visit", lead_id=None, anonymous_id="v1", at=0)
    link = core_link("v1", at=10)
    plan = plan_batch(_records(visit, link), store, MODELS, TOPICS, PARTITION)
    (hand_over,) = plan.first
    assert (hand_over.topic, hand_over.key) == ("lead-messages", b"L1")
    assert plan.counts.identity_messages["linked"] == 1
    assert plan.reached == [(b"anon-v1", visit.event_id, 0),
                            (b"anon-v1", link.touchpoint.event_id, 1)]
    store.carry_out(plan)
    visitor = store.state("anon-v1")
    assert visitor is not None and visitor.merged_into == "L1"


def test_a_replayed_batch_republishes_the_same_events_and_changes_nothing() -> None:
    store = DictStore()
    records = _records(core_touchpoint("form_submit", at=0), core_touchpoint("demo_request", at=9))
    first = plan_batch(records, store, MODELS, TOPICS, PARTITION)
    store.carry_out(first)
    written = {table: dict(rows) for table, rows in store.tables.items()}
    store.cache.clear()  # a restart: read back from RocksDB
    replay = plan_batch(records, store, MODELS, TOPICS, PARTITION)
    assert [o.value for o in replay.outputs] == [o.value for o in first.outputs]
    store.carry_out(replay)
    assert store.tables == written
    assert replay.counts.touchpoints[("form_submit", "duplicate")] == 1


def test_the_planner_imports_no_faust_producer_or_metrics() -> None:
    tree = ast.parse(Path(plan_module.__file__).read_text())
    imported = {node.module for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom) and node.module} | \
        {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
         for alias in node.names}
    runtime = {name for name in imported if not name.startswith("leadstream.streams.lane")}
    assert not {name for name in runtime
                if name.split(".")[0] in {"faust", "mode", "aiokafka", "prometheus_client"}}
    assert not {name for name in runtime if name.startswith("leadstream.streams.ops")}


def test_nurture_signals_go_to_the_nurture_topic() -> None:
    from leadstream.core.messages import Feedback
    from leadstream.schemas.nurture import NurtureEvent

    store = DictStore()
    rejected = Feedback(feedback_id="crm-1", lead_id="L1", verdict="rejected",
                        occurred_at=core_touchpoint(at=7200).occurred_at)
    plan = plan_batch(_records(core_touchpoint("form_submit", at=0, payload={"form_id": "f"}),
                               core_touchpoint("demo_request", at=3600), rejected),
                      store, MODELS, TOPICS, PARTITION)
    (out,) = [o for o in plan.outputs if o.topic == TOPICS.nurture]
    event = NurtureEvent.model_validate_json(out.value)
    assert (out.key, event.signal, event.reason, event.trigger_event_id) == \
        (b"L1", "recycled", "sales_rejected", "crm-1")
    assert plan.counts.nurture == {"recycled": 1}


def test_an_update_goes_first_and_a_crash_before_the_state_is_stored_decides_it_again() -> None:
    """A lead_changed update is not kept in the state for a replay (core/updates.py): it is
    planned as a first record, which the commit order sends before the state is written. A crash
    in between replays the batch on the state before it: the same update, byte for byte."""
    store = DictStore()
    store.carry_out(plan_batch(_records(core_touchpoint("form_submit", at=0)), store, MODELS,
                               TOPICS, PARTITION))
    batch = _records(*(core_touchpoint("form_submit", at=at, payload={
        "form_id": "f", "profile": {"job_title": title, "country": "DE"}})
        for at, title in ((7200, "CTO"), (9 * 7200, "Student"))), start=1)
    plan = plan_batch(batch, store, MODELS, TOPICS, PARTITION)
    updates = [o.value for o in plan.first if b'"reason":"lead_changed"' in o.value]
    assert updates and not [o for o in plan.outputs if b'"reason":"lead_changed"' in o.value]
    # the crash: the first records were sent, the state was not written; the batch again
    store.cache.clear()
    again = plan_batch(batch, store, MODELS, TOPICS, PARTITION)
    assert [o.value for o in again.first if b'"reason":"lead_changed"' in o.value] == updates
    # after the state is written, a replay decides nothing anew (the updates are in Kafka)
    store.carry_out(again)
    store.cache.clear()
    replayed = plan_batch(batch, store, MODELS, TOPICS, PARTITION)
    assert not [o for o in [*replayed.first, *replayed.outputs]
                if b'"reason":"lead_changed"' in o.value]


def test_a_stall_signal_goes_first_since_the_state_does_not_keep_it() -> None:
    from leadstream.core.messages import Tick
    from leadstream.schemas.nurture import NurtureEvent

    store = DictStore()
    store.carry_out(plan_batch(_records(core_touchpoint("form_submit", at=0)), store, MODELS,
                               TOPICS, PARTITION))
    state = store.state("L1")
    assert state is not None and state.stage == "mgl"
    due = next_deadline(state, MODELS)
    assert due is not None
    tick = _records(Tick(tick_id=f"due:{due!r}", lead_id="L1", now=due), start=1)
    plan = plan_batch(tick, store, MODELS, TOPICS, PARTITION)
    (out,) = [o for o in plan.first if o.topic == TOPICS.nurture]
    assert NurtureEvent.model_validate_json(out.value).signal == "stalled"
    # a crash before the state is stored: the tick again decides the same signal
    store.cache.clear()
    again = plan_batch(tick, store, MODELS, TOPICS, PARTITION)
    assert [o.value for o in again.first if o.topic == TOPICS.nurture] == [out.value]


def test_a_lead_tells_its_account_once_per_batch_before_its_state_is_stored() -> None:
    store = DictStore()
    profile = {"form_id": "f", "profile": {"email_domain": "acme.com", "job_title": "CTO"}}
    batch = [core_touchpoint("form_submit", at=0, payload=profile),
             core_touchpoint("web_visit", at=60), core_touchpoint("web_visit", at=120)]
    plan = plan_batch(_records(*batch), store, MODELS, TOPICS, PARTITION)
    told = [out for out in plan.first if out.topic == "account-messages"]
    assert [out.key for out in told] == [b"acme.com"]  # the batch's last word, not one per message
    update = orjson.loads(told[0].value)
    assert (update["lead_id"], update["role"], update["version"][:2]) == \
        ("L1", "CTO", [batch[-1].occurred_at, 3])
    store.carry_out(plan)
    assert store.state("L1").account == "acme.com"  # type: ignore[union-attr]
    # erased: the account hears it first, and forgets the lead
    erase = plan_batch(_records(Erase(erase_id="er-1", lead_id="L1", at=500.0), start=3), store,
                       MODELS, TOPICS, PARTITION)
    gone = [orjson.loads(out.value) for out in erase.first if out.topic == "account-messages"]
    assert [(u["account_id"], u["erased"]) for u in gone] == [("acme.com", True)]


def test_a_refused_verdict_or_merge_goes_to_the_dlq_as_the_producer_sent_it() -> None:
    """Verdicts and merge commands carry their input record (``origin``) to the lead agent; a
    refusal there (here: unknown leads) sends the DLQ those bytes, not the internal message."""
    from leadstream.agents.dlq import origin_of
    from leadstream.core.messages import Feedback, MergeRequest

    sent = Record(b"crm-key", b'{"verdict": "accepted", "lead_id": "NOBODY"}', 41,
                  topic="lead-feedback", partition=5, headers=(("source", b"crm"),))
    verdict = Feedback(feedback_id="f1", lead_id="NOBODY", verdict="accepted", occurred_at=0.0,
                       origin=origin_of(sent))
    command = Record(b"ops", b'{"command": "merge"}', 7, topic="lead-commands", partition=1)
    merge = MergeRequest(merge_id="m1", lead_id="L1", other="NOBODY", survivor=None, at=0.0,
                         origin=origin_of(command))
    store = DictStore()
    plan = plan_batch(_records(core_touchpoint("form_submit", at=0), verdict, merge), store,
                      MODELS, TOPICS, PARTITION)
    store.carry_out(plan)
    offer = [o for o in plan.outputs if o.topic == "lead-messages"]  # the merge's next hop
    plan = plan_batch([Record(o.key or b"", o.value, 10 + i) for i, o in enumerate(offer)], store,
                      MODELS, TOPICS, PARTITION)
    dlq = [orjson.loads(o.value) for o in (*plan.outputs,) if o.topic == "dlq"]
    first = [orjson.loads(o.value) for o in plan_batch(_records(verdict, start=20), DictStore(),
                                                       MODELS, TOPICS, PARTITION).outputs
             if o.topic == "dlq"]
    for record, original in ((first[0], sent), (dlq[0], command)):
        assert record["kind"] == "unknown_lead"
        assert record["source"]["topic"] == original.topic
        assert (record["source"]["partition"], record["source"]["offset"]) == \
            (original.partition, original.offset)
        assert base64.b64decode(record["value_b64"]) == original.value
        assert base64.b64decode(record["key_b64"]) == original.key
    assert first[0]["headers"] == [{"key": "source", "value_b64": base64.b64encode(b"crm").decode()}]


def test_a_touchpoint_too_late_goes_to_the_dlq_as_the_producer_sent_it() -> None:
    """Ingest gives an old touchpoint its input record (only such a one can be too late); the
    lead agent's refusal sends the DLQ those bytes, also when a visitor's link brings it."""
    from datetime import timedelta

    from leadstream.agents.dlq import origin_of
    from leadstream.core.identity import visitor_id
    from leadstream.core.messages import Link

    sent = Record(b"ck-9", b'{"event_id": "old", "type": "web_visit"}', 77, topic="touchpoints",
                  partition=2)
    old = core_touchpoint("web_visit", event_id="old", at=-timedelta(days=40),
                          payload={"url": "/"})
    store = DictStore()
    store.carry_out(plan_batch(_records(core_touchpoint("form_submit", at=0)), store, MODELS,
                               TOPICS, PARTITION))
    link = Link(lead_id=visitor_id("ck-9"),
                touchpoint=dataclasses.replace(old, event_id="old-2", origin=origin_of(sent)))
    for message in (dataclasses.replace(old, origin=origin_of(sent)), link):
        plan = plan_batch(_records(message, start=30), store, MODELS, TOPICS, PARTITION)
        store.carry_out(plan)
        hops = [o for o in (*plan.first, *plan.outputs) if o.topic == "lead-messages"]
        if hops:  # the visitor hands its history and the touchpoint over to the lead
            plan = plan_batch([Record(o.key or b"", o.value, 40 + i) for i, o in enumerate(hops)],
                              store, MODELS, TOPICS, PARTITION)
        dlq = [orjson.loads(o.value) for o in plan.outputs if o.topic == "dlq"]
        assert [d["kind"] for d in dlq] == ["too_late"]
        assert dlq[0]["source"]["topic"] == "touchpoints" and dlq[0]["source"]["offset"] == 77
        assert base64.b64decode(dlq[0]["value_b64"]) == sent.value
