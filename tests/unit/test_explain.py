"""core/explain.py: the score over time the lead desk draws equals, at every touchpoint, the score
the lead's decayed components give (daily caps, late touchpoints and duplicates included), and
the why-line names the reason of the newest stage entry."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from leadstream.core.explain import score_timeline, timeline_matches, trigger_types, why
from leadstream.core.model import ModelSet
from leadstream.core.scoring import behaviour_score
from tests import harness
from tests.factories import core_touchpoint, make_model

MODEL = make_model([
    {"id": "visit", "type": "web_visit", "points": 5, "half_life_days": 7, "daily_cap": 2},
    {"id": "pricing", "type": "web_visit", "match": {"url": "/pricing*"}, "points": 20,
     "half_life_days": 14},
    {"id": "form", "type": "form_submit", "points": 15, "half_life_days": 30},
    {"id": "demo", "type": "demo_request", "points": 40},
    {"id": "unsub", "type": "unsubscribe", "points": -20},
], min_score=60)
MODELS = ModelSet(MODEL)

_touch = st.tuples(st.sampled_from(["web_visit", "web_visit", "form_submit", "demo_request",
                                    "unsubscribe"]),
                   # within max_lateness_days (30): none is refused as too late
                   st.integers(0, 24 * 29), st.sampled_from(["/", "/pricing/enterprise"]),
                   st.just(0))


@settings(max_examples=150, deadline=None)
@given(st.lists(_touch, min_size=1, max_size=25), st.data())
def test_the_curve_meets_the_score_at_every_touchpoint(touches: list[tuple[str, int, str, int]],
                                                       data: st.DataObject) -> None:
    messages = [core_touchpoint(kind, event_id=f"e{i}", at=timedelta(hours=hours),
                                payload={"url": url} if kind == "web_visit" else {})
                for i, (kind, hours, url, _) in enumerate(touches)]
    resent = data.draw(st.lists(st.sampled_from(messages), max_size=3))
    arrival = data.draw(st.permutations(messages + resent))  # late ones, duplicates
    states, _ = harness.run(arrival, MODELS)
    state = states["L1"]
    end = (state.last_event_at or 0) + 86_400 * 10
    timeline = score_timeline(state, MODEL, end=end, steps=20)
    assert timeline and timeline[-1].at == end
    by_time = sorted(messages, key=lambda m: (m.occurred_at, m.event_id))
    for point in timeline:
        # the lead as it was with the touchpoints up to this moment, in any order
        earlier = [m for m in by_time if m.occurred_at <= point.at]
        then, _ = harness.run(earlier, MODELS)
        components = then["L1"].components.get(MODEL.name, {}) if earlier else {}
        expected = behaviour_score(components, MODEL, point.at)
        assert abs(point.score - expected) < 1e-6 * max(1.0, abs(expected)), point
    assert timeline_matches(state, MODEL, state.last_event_at or 0)


def test_the_why_line_names_the_trigger_and_the_grade() -> None:
    states, _ = harness.run([
        core_touchpoint("form_submit", event_id="f1", at=0),
        core_touchpoint("demo_request", event_id="d1", at=timedelta(hours=2)),
    ], MODELS)
    state = states["L1"]
    assert why(state, MODEL, grade="A", score=55.0, trigger_types=trigger_types(state)) == \
        "MQL because: demo request (hand-raiser) with grade A"
    states, _ = harness.run([core_touchpoint("form_submit", event_id="f1", at=0)], MODELS)
    assert why(states["L1"], MODEL, grade="B", score=15.0,
               trigger_types=trigger_types(states["L1"])) == \
        "MGL because: a contact became known (form submit)"


def test_a_score_reached_by_behaviour_says_the_threshold() -> None:
    visits = [core_touchpoint("web_visit", event_id=f"v{i}", at=timedelta(hours=i),
                              payload={"url": "/pricing/x"}) for i in range(4)]
    states, _ = harness.run([core_touchpoint("form_submit", event_id="f", at=0), *visits],
                            MODELS)
    state = states["L1"]
    assert state.stage == "mql"
    assert why(state, MODEL, grade="C", score=71.0, trigger_types=trigger_types(state)) == \
        "MQL because: behaviour score reached 60 (now 71) with grade C"
