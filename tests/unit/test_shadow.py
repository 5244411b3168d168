"""Shadow models in the lead planner (core/shadow.py, agents/leads/shadow.py), driven through
``plan_batch`` in a small world of lead-messages records (tests/lead_world.py)."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadstream.agents.leads.plan import DEADLINES, LEADS, STATS, plan_batch
from leadstream.agents.leads.shadow import SHADOW
from leadstream.core.messages import Erase, Message, MergeRequest
from leadstream.core.model import ModelSet
from leadstream.streams.encoding.codecs import decode_state, shadow_key
from leadstream.streams.services.deadlines import decode_deadline
from tests.factories import T0, core_link, core_touchpoint, make_model
from tests.lead_world import TOPICS, World

H = timedelta(hours=1)
PRIMARY = ModelSet(make_model(min_score=30))
SAME = ModelSet(make_model(min_score=30))  # the primary's model, as a shadow
STRICT = ModelSet(make_model(min_score=1000, version="2"))  # only hand-raisers qualify
RENAMED = ModelSet(make_model(min_score=60, name="candidate"))


def _transitions(records: list[dict[str, object]]) -> list[tuple[object, ...]]:
    return [(r["transition_id"], r["lead_id"], r["to_stage"], r["score"]) for r in records
            if r["kind"] in ("stage_transition", "lead_updated")]


# -- journeys ----------------------------------------------------------------------------------

_people = st.sampled_from(["alice", "bob", "carol"])
_cookies = st.sampled_from(["c1", "c2"])


@st.composite
def _journey(draw: st.DrawFn) -> list[Message]:
    """Touchpoints of three people and two cookies, links, merges and an erasure, in any order,
    on one clock (commands at T0 + their offset, as the touchpoints: a command dated 1970 made the
    timer tick an MQL's SLA every 48 hours from then on)."""
    out: list[Message] = []
    for i in range(draw(st.integers(3, 14))):
        at = draw(st.integers(0, 400)) * H
        kind = draw(st.sampled_from(["visit", "pricing", "form", "demo", "anon", "link", "merge",
                                     "erase"]))
        event = f"e{i}"
        if kind == "anon":
            out.append(core_touchpoint("web_visit", event_id=event, at=at, lead_id=None,
                                       anonymous_id=draw(_cookies), payload={"url": "/pricing"}))
        elif kind == "link":
            out.append(core_link(draw(_cookies), event_id=event, at=at, lead_id=draw(_people)))
        elif kind == "merge":
            a, b = draw(st.lists(_people, min_size=2, max_size=2, unique=True))
            out.append(MergeRequest(merge_id=event, lead_id=a, other=b,
                                    survivor=draw(st.sampled_from([None, a, b])),
                                    at=(T0 + at).timestamp()))
        elif kind == "erase":
            out.append(Erase(erase_id=event, lead_id=draw(_people), at=(T0 + at).timestamp()))
        else:
            type_, payload = {"visit": ("web_visit", {"url": "/"}),
                              "pricing": ("web_visit", {"url": "/pricing"}),
                              "form": ("form_submit", None),
                              "demo": ("demo_request", None)}[kind]
            out.append(core_touchpoint(type_, event_id=event, at=at, lead_id=draw(_people),
                                       payload=payload))
    return out


_batches = st.lists(st.integers(1, 5), min_size=1, max_size=4)
#: after every journey's last message (400 hours in) and long enough for every deadline to pass
_END = core_touchpoint("web_visit", event_id="end", at=400 * H).occurred_at + 400 * 86400.0


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(journey=_journey(), batches=_batches)
def test_a_shadow_running_the_primarys_model_makes_exactly_the_primarys_transitions(
        journey: list[Message], batches: list[int]) -> None:
    world = World(PRIMARY, (SAME,))
    for message in journey:
        world.send(message)
    world.run(batches)
    world.tick_until(_END)  # and what time does to them (SLA, going cold, stalls, updates)
    assert _transitions(world.on("shadow")) == _transitions(world.on("handover"))
    assert world.stages(SHADOW) == world.stages(LEADS)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(journey=_journey(), batches=_batches)
def test_a_shadow_never_changes_what_the_primary_publishes_or_stores(
        journey: list[Message], batches: list[int]) -> None:
    alone, beside = World(PRIMARY), World(PRIMARY, (STRICT, RENAMED))
    for message in journey:
        alone.send(message)
        beside.send(message)
    alone.run(batches)
    beside.run(batches)
    alone.tick_until(_END)
    beside.tick_until(_END)
    for topic in ("handover", "nurture", "dlq", "account-messages"):
        # (per lead: the timer's extra ticks for the shadows change how records of different
        # leads interleave, which no consumer can rely on)
        assert beside.by_key(topic) == alone.by_key(topic), topic
    assert beside.tables[LEADS] == alone.tables[LEADS]
    # a lead's timer fires at the earliest deadline of any model (the primary ignores a tick
    # before its own): never later than the primary's alone
    for key, raw in alone.tables[DEADLINES].items():
        assert decode_deadline(beside.tables[DEADLINES][key]) <= decode_deadline(raw)
    assert beside.tables[STATS] == alone.tables[STATS]
    # and each shadow follows the primary's identity: the same ids are retired into the same
    # survivors, and the same ids are erased
    primary = world_identity(alone.stages(LEADS))
    assert world_identity(beside.stages(SHADOW, "test")) == primary
    assert world_identity(beside.stages(SHADOW, "candidate")) == primary


def world_identity(stages: dict[str, str]) -> dict[str, str]:
    return {lead: stage for lead, stage in stages.items() if stage.startswith("->")}


def test_a_stricter_shadow_makes_fewer_mqls_and_only_on_the_shadow_topic() -> None:
    world = World(PRIMARY, (STRICT,))
    world.send(core_touchpoint("web_visit", event_id="a1", at=0 * H, lead_id="alice",
                               payload={"url": "/pricing"}))
    world.send(core_touchpoint("web_visit", event_id="a2", at=1 * H, lead_id="alice",
                               payload={"url": "/pricing"}))
    world.send(core_touchpoint("demo_request", event_id="b1", at=2 * H, lead_id="bob"))
    world.run()
    primary = {(r["lead_id"], r["to_stage"]) for r in world.on("handover")
               if r["kind"] == "stage_transition"}
    shadow = {(r["lead_id"], r["to_stage"]) for r in world.on("shadow")
              if r["kind"] == "stage_transition"}
    assert ("alice", "mql") in primary and ("alice", "mql") not in shadow  # score: 50 ≥ 30 only
    assert ("bob", "mql") in primary and ("bob", "mql") in shadow  # a hand-raiser qualifies in both
    assert ("alice", "mgl") in shadow


def test_a_merge_keeps_the_primarys_survivor_in_the_shadow() -> None:
    """Primary: X is an MQL, Y an MGL, so X survives; by itself the stricter shadow would keep Y
    (both MGL there, Y the older). The shadow takes the primary's decision, and Y's history."""
    world = World(PRIMARY, (STRICT, RENAMED))
    world.send(core_touchpoint("web_visit", event_id="y1", at=0 * H, lead_id="Y",
                               payload={"url": "/"}))
    world.send(core_touchpoint("web_visit", event_id="x1", at=1 * H, lead_id="X",
                               payload={"url": "/pricing"}))
    world.send(core_touchpoint("web_visit", event_id="x2", at=2 * H, lead_id="X",
                               payload={"url": "/pricing"}))
    world.send(MergeRequest(merge_id="m1", lead_id="X", other="Y", survivor=None,
                            at=(3 * H).total_seconds()))
    # and the other way round: Y decides (the offer carries X's primary stage)
    world.send(core_touchpoint("web_visit", event_id="p1", at=0 * H, lead_id="P",
                               payload={"url": "/"}))
    world.send(core_touchpoint("web_visit", event_id="q1", at=1 * H, lead_id="Q",
                               payload={"url": "/pricing"}))
    world.send(core_touchpoint("web_visit", event_id="q2", at=2 * H, lead_id="Q",
                               payload={"url": "/pricing"}))
    world.send(MergeRequest(merge_id="m2", lead_id="P", other="Q", survivor=None,
                            at=(3 * H).total_seconds()))
    world.run()
    assert world.stages(LEADS) == {"X": "mql", "Y": "-> X", "P": "-> Q", "Q": "mql"}
    assert world.stages(SHADOW) == {"X": "mgl", "Y": "-> X", "P": "-> Q", "Q": "mgl"}
    shadow_x = decode_state(world.tables[SHADOW][shadow_key("test", b"X")])
    assert shadow_x.touchpoints == 3 and shadow_x.aliases == ["Y"]  # Y's visit came along
    # in the shadow's own counts: its state of Y was handed over, not the primary's
    renamed_x = decode_state(world.tables[SHADOW][shadow_key("candidate", b"X")])
    assert renamed_x.rule_counts["candidate"] == {"visit": 3, "pricing": 2}


def test_a_lead_from_before_the_shadow_starts_from_the_primarys_state() -> None:
    world = World(PRIMARY)
    for i in range(2):
        world.send(core_touchpoint("web_visit", event_id=f"v{i}", at=i * H, lead_id="alice",
                                   payload={"url": "/"}))
    world.run()
    world.shadows = (RENAMED, SAME)
    world.send(core_touchpoint("web_visit", event_id="v9", at=9 * H, lead_id="alice",
                               payload={"url": "/pricing"}))
    world.run()
    same = decode_state(world.tables[SHADOW][shadow_key("test", b"alice")])
    assert same.touchpoints == 3
    assert same.to_primitive() == decode_state(world.tables[LEADS][b"alice"]).to_primitive()
    # a shadow of another name has no counts of its own for the earlier touchpoints
    renamed = decode_state(world.tables[SHADOW][shadow_key("candidate", b"alice")])
    assert renamed.touchpoints == 3 and set(renamed.components) == {"test", "candidate"}


def test_an_erasure_removes_the_shadows_state_too() -> None:
    world = World(PRIMARY, (STRICT,))
    world.send(core_link("c1", event_id="f1", at=0 * H, lead_id="alice"))
    world.run()
    assert set(world.tables[SHADOW]) == {b"test\x00alice", b"test\x00anon-c1"}
    world.send(Erase(erase_id="x", lead_id="alice", at=(1 * H).total_seconds()))
    world.run()
    assert world.tables[SHADOW] == {}
    assert world.stages(LEADS) == {}  # (the primary's erasure record stays)


def test_a_shadow_that_fails_is_counted_and_the_primary_goes_on() -> None:
    class Broken(ModelSet):
        __slots__ = ()

        @property
        def all(self):  # type: ignore[no-untyped-def]
            raise RuntimeError("broken candidate")

    broken = Broken(make_model(name="broken"))
    alone, beside = World(PRIMARY), World(PRIMARY, (broken,))
    for world in (alone, beside):
        world.send(core_touchpoint("demo_request", event_id="d1", at=0, lead_id="alice"))
    plans = []
    for world in (alone, beside):
        batch = list(world.queue)
        world.queue.clear()
        plans.append(plan_batch(batch, world, PRIMARY, TOPICS, 0, world.shadows))
    assert [o.value for o in plans[1].outputs] == [o.value for o in plans[0].outputs]
    assert [f.model for f in plans[1].shadow.failures] == ["broken"]
    assert plans[1].shadow.writes == []


D = 24 * H
SOON_COLD = ModelSet(make_model(min_score=30, name="candidate",
                                lifecycle={"recycle_after_days": 10}))
LATE_COLD = ModelSet(make_model(min_score=30, lifecycle={"recycle_after_days": 60}))


def test_a_shadow_goes_cold_at_its_own_deadline_as_it_would_once_promoted() -> None:
    """The shadow recycles an idle MQL after 10 days, the primary after 60: the lead's timer
    ticks it at day 10 for the shadow (the primary's state and output are those of a run
    without the shadow), and the shadow's went_cold is the one the candidate makes as primary."""
    journey = [core_touchpoint("demo_request", event_id="e1", at=0 * H, lead_id="alice"),
               core_touchpoint("web_visit", event_id="e2", at=1 * H, lead_id="alice",
                               payload={"url": "/"})]
    beside = World(LATE_COLD, (SOON_COLD,))
    alone = World(LATE_COLD)
    promoted = World(SOON_COLD)
    for world in (beside, alone, promoted):
        for message in journey:
            world.send(message)
        world.run()
        world.tick_until(journey[0].occurred_at + (30 * D).total_seconds())

    def cold(records: list[dict[str, object]]) -> list[tuple[object, ...]]:
        return [(r["transition_id"], r["lead_id"], r["occurred_at"]) for r in records
                if r["kind"] == "stage_transition" and r["reason"] == "went_cold"]

    assert cold(beside.on("shadow")) == cold(promoted.on("handover"))
    assert len(cold(promoted.on("handover"))) == 1
    assert cold(beside.on("handover")) == []
    assert beside.on("handover") == alone.on("handover")
    assert beside.tables[LEADS] == alone.tables[LEADS]
    assert world_stages(beside) == ("mql", "recycled")


def world_stages(world: World) -> tuple[str, str]:
    return world.stages(LEADS)["alice"], world.stages(SHADOW, "candidate")["alice"]
