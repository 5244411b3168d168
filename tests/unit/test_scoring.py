"""Decay math and its order independence (property tests)."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leadstream.config.model_loader import load_model
from leadstream.core.scoring import add_units, behaviour_score, contributions, units_at
from tests.factories import core_touchpoint as tp
from tests.factories import make_model
from tests.harness import run

DAY = 86400.0


def test_half_life_halves_the_units() -> None:
    component = add_units(None, 1.0, 0.0, 7 * DAY)
    assert units_at(component, 7 * DAY, 7 * DAY) == pytest.approx(0.5)
    assert units_at(component, 14 * DAY, 7 * DAY) == pytest.approx(0.25)


def test_no_half_life_means_no_decay() -> None:
    component = add_units(add_units(None, 1.0, 100.0, None), 1.0, 50.0, None)
    assert units_at(component, 10 * DAY, None) == 2.0


def test_late_event_adds_exactly_its_decayed_share() -> None:
    h = 2 * DAY
    on_time = add_units(add_units(None, 1.0, 0.0, h), 1.0, 4 * DAY, h)
    late = add_units(add_units(None, 1.0, 4 * DAY, h), 1.0, 0.0, h)
    assert late[1] == on_time[1] == 4 * DAY
    assert late[0] == pytest.approx(on_time[0]) == pytest.approx(1.25)


def test_taking_a_unit_back_restores_the_component() -> None:
    h = 3 * DAY
    base = add_units(None, 1.0, 1 * DAY, h)
    undone = add_units(add_units(base, 1.0, 0.5 * DAY, h), -1.0, 0.5 * DAY, h)
    assert undone[0] == pytest.approx(base[0]) and undone[1] == base[1]


def test_changing_a_rules_points_rescores_without_history() -> None:
    model = make_model()
    states, _ = run([tp("web_visit", payload={"url": "/pricing"}, at=timedelta(hours=h)) for h in range(3)], model)
    components = states["L1"].components["test"]
    at = states["L1"].last_event_at
    doubled = make_model([
        {"id": "visit", "type": "web_visit", "points": 10},
        {"id": "pricing", "type": "web_visit", "match": {"url": "/pricing*"}, "points": 40},
    ])
    assert behaviour_score(components, model, at) == pytest.approx(3 * 5 + 3 * 20)
    assert behaviour_score(components, doubled, at) == pytest.approx(2 * (3 * 5 + 3 * 20))


events = st.lists(
    st.tuples(
        st.sampled_from(["web_visit", "form_submit", "demo_request", "unsubscribe"]),
        # within the allowed lateness (60 days): nothing is rejected as too late
        st.floats(min_value=0, max_value=60 * DAY, allow_nan=False),
        st.sampled_from(["/", "/pricing", "/pricing/x"]),
    ),
    min_size=1,
    max_size=25,
)


@settings(max_examples=200, deadline=None)
@given(events=events, data=st.data())
def test_score_does_not_depend_on_arrival_order(events, data) -> None:  # type: ignore[no-untyped-def]
    model = make_model(
        [
            {"id": "visit", "type": "web_visit", "points": 5, "half_life_days": 7},
            {"id": "pricing", "type": "web_visit", "match": {"url": "/pricing*"}, "points": 20, "half_life_days": 3},
            {"id": "form", "type": "form_submit", "points": 15, "half_life_days": 30},
            {"id": "demo", "type": "demo_request", "points": 40},
            {"id": "unsub", "type": "unsubscribe", "points": -20, "half_life_days": 10},
        ],
        min_score=10_000,
        lifecycle={"max_lateness_days": 60},
    )
    messages = [
        tp(kind, event_id=f"e{i}", at=at, payload={"url": url} if kind == "web_visit" else None)
        for i, (kind, at, url) in enumerate(events)
    ]
    shuffled = data.draw(st.permutations(messages))
    a, _ = run(messages, model)
    b, _ = run(shuffled, model)
    sa, sb = a["L1"], b["L1"]
    assert sa.last_event_at == sb.last_event_at
    assert sa.rule_counts == sb.rule_counts
    score_a = behaviour_score(sa.components["test"], model, sa.last_event_at)
    score_b = behaviour_score(sb.components["test"], model, sb.last_event_at)
    assert score_a == pytest.approx(score_b, rel=1e-9, abs=1e-9)
    # and it equals the closed form Σ points·2^(−(T−t)/h)
    expected = 0.0
    for m in messages:
        for rule in model.rules_for(m):
            h = rule.half_life_seconds
            dt = sa.last_event_at - m.occurred_at
            expected += rule.points * (1.0 if h is None else math.pow(2.0, -dt / h))
    assert score_a == pytest.approx(expected, rel=1e-9, abs=1e-9)


@settings(max_examples=100, deadline=None)
@given(events=events, repeats=st.integers(min_value=1, max_value=3))
def test_replaying_any_prefix_again_changes_nothing(events, repeats) -> None:  # type: ignore[no-untyped-def]
    model = make_model()
    messages = [tp(kind, event_id=f"e{i}", at=at) for i, (kind, at, _) in enumerate(events)]
    once, emitted_once = run(messages, model)
    replayed, _ = run(messages + messages[: len(messages) // 2] * repeats, model)
    assert replayed["L1"].to_primitive() == once["L1"].to_primitive()


def test_score_of_a_rule_removed_from_the_model_no_longer_counts() -> None:
    model = make_model()
    states, _ = run([tp("web_visit", at=timedelta(0))], model)
    smaller = make_model([{"id": "form", "type": "form_submit", "points": 15}])
    assert behaviour_score(states["L1"].components["test"], smaller, states["L1"].last_event_at) == 0


_SHARED_MODEL = load_model()


@settings(max_examples=200, deadline=None)
@given(components=st.dictionaries(
    st.sampled_from([*(rule.id for rule in _SHARED_MODEL.rules), "dropped_rule"]),
    st.tuples(st.floats(-50, 50, allow_nan=False), st.floats(0, 90 * DAY)).map(list),
    max_size=12,
), at=st.floats(0, 120 * DAY))
def test_score_is_exactly_the_sum_of_contributions(components, at) -> None:  # type: ignore[no-untyped-def]
    model = _SHARED_MODEL  # with decaying, non-decaying and (dropped_rule) unknown rules
    assert behaviour_score(components, model, at) == sum(p for _, p in contributions(components, model, at))


@settings(max_examples=400, deadline=None)
@given(st.fixed_dictionaries({}, optional={
    "job_title": st.one_of(st.sampled_from(["CTO", "Working Student", "Head of IT", "cto", "Intern"]),
                           st.lists(st.just("CTO"), max_size=1)),  # a list: unhashable, not kept
    # True, 1 and 1.0 are one dict key: each field's memo must still tell them apart
    "company_size": st.one_of(st.integers(1, 20_000), st.floats(0, 1e5), st.booleans(),
                              st.sampled_from([1, 1.0, True, "1", "500"])),
    "industry": st.sampled_from(["software", "retail", "energy"]),
    "country": st.sampled_from(["DE", "AT", "US"]),
    "email_domain": st.sampled_from(["gmail.com", "acme.example"]),
}))
def test_remembered_fit_points_are_the_rule_sum(profile) -> None:  # type: ignore[no-untyped-def]
    model = _SHARED_MODEL  # one memo across all examples, as in a worker
    expected = sum(rule.points for rule in model.fit.rules if rule.matches(profile))
    assert model.fit.points(profile) == expected
    assert model.fit.points(dict(profile)) == expected  # a second time: from the memo
