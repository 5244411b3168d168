"""merge(apply(A), apply(B)) == apply(A ∪ B): scores, counts, caps, profile, dedupe."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leadstream.core.apply import apply
from leadstream.core.model import ModelSet
from leadstream.core.scoring import behaviour_score
from leadstream.core.state import LeadState
from leadstream.core.state_merge import merge_states
from tests.factories import T0, core_touchpoint, make_model

DAY = 86400.0

MODEL = make_model(
    [
        {"id": "visit", "type": "web_visit", "points": 5, "half_life_days": 7, "daily_cap": 2},
        {"id": "pricing", "type": "web_visit", "match": {"url": "/pricing*"}, "points": 20,
         "half_life_days": 3},
        {"id": "form", "type": "form_submit", "points": 15, "half_life_days": 30},
        {"id": "download", "type": "download", "points": 10, "daily_cap": 1},
    ],
    min_score=10_000,
)
SECOND = make_model([{"id": "any_visit", "type": "web_visit", "points": 1, "daily_cap": 3}], name="second")
MODELS = ModelSet(MODEL, (SECOND,))

# an event pool; each side sees a subset, and events both see are the same event (same id)
events = st.lists(
    st.tuples(
        st.sampled_from(["web_visit", "form_submit", "download"]),
        st.floats(min_value=0, max_value=20 * DAY, allow_nan=False),
        st.sampled_from(["/", "/pricing", "/blog"]),
        st.sampled_from([None, "Acme", "Globex"]),
        st.sampled_from(["L", "V", "both"]),
    ),
    min_size=1,
    max_size=30,
)


def _touchpoints(pool, lead_id, anonymous_id=None):  # type: ignore[no-untyped-def]
    out = []
    for i, (kind, at, url, company, _) in enumerate(pool):
        payload = {"url": url} if kind == "web_visit" else None
        if kind == "form_submit":
            payload = {"form_id": "f", "profile": {"company": company} if company else {}}
        out.append(core_touchpoint(kind, event_id=f"e{i}", at=at, payload=payload, lead_id=lead_id,
                                   anonymous_id=anonymous_id))
    return out


def _apply_all(touchpoints, lead_id, order):  # type: ignore[no-untyped-def]
    state = None
    for i in order:
        state, _ = apply(state, touchpoints[i], MODELS)
    return state if state is not None else LeadState(lead_id=lead_id)


def _caps(state: LeadState) -> dict:  # type: ignore[type-arg]
    return {(m, r, d): sorted(map(tuple, entries)) for m, rules in state.capped.items()
            for r, days in rules.items() for d, entries in days.items() if entries}


@settings(max_examples=300, deadline=None)
@given(pool=events, data=st.data())
def test_merging_two_states_equals_applying_the_union(pool, data) -> None:  # type: ignore[no-untyped-def]
    as_lead = _touchpoints(pool, "L1")
    as_visitor = _touchpoints(pool, None, anonymous_id="v")
    on_lead = [i for i, e in enumerate(pool) if e[4] in ("L", "both")]
    on_visitor = [i for i, e in enumerate(pool) if e[4] in ("V", "both")]

    lead = _apply_all(as_lead, "L1", data.draw(st.permutations(on_lead)))
    visitor = _apply_all(as_visitor, "anon-v", data.draw(st.permutations(on_visitor)))
    merge_states(lead, visitor, MODELS)
    union = _apply_all(as_lead, "L1", sorted(set(on_lead) | set(on_visitor)))

    at = T0.timestamp() + 25 * DAY
    for model in MODELS.all:
        assert behaviour_score(lead.components.get(model.name, {}), model, at) == pytest.approx(
            behaviour_score(union.components.get(model.name, {}), model, at), abs=1e-9)
        assert {r: c for r, c in lead.rule_counts.get(model.name, {}).items() if c} == \
            {r: c for r, c in union.rule_counts.get(model.name, {}).items() if c}
    assert _caps(lead) == _caps(union)
    assert lead.profile == union.profile
    assert lead.touchpoints == union.touchpoints
    assert set(lead.seen) == set(union.seen)
    assert lead.first_event_at == union.first_event_at and lead.last_event_at == union.last_event_at
    assert lead.trail == union.trail
    if on_visitor:
        assert lead.aliases == ["anon-v"]


def test_an_event_counted_on_both_sides_counts_once() -> None:
    visit = core_touchpoint("download", event_id="same", at=timedelta(hours=1))
    lead, _ = apply(None, visit, MODELS)
    visitor, _ = apply(None, core_touchpoint("download", event_id="same", at=timedelta(hours=1),
                                             lead_id="V"), MODELS)
    assert lead is not None and visitor is not None
    merge_states(lead, visitor, MODELS)
    assert lead.rule_counts["test"]["download"] == 1
    assert lead.touchpoints == 1


def test_a_daily_cap_holds_across_the_merge() -> None:
    """Cap 1 per day: the visitor's earlier download takes the lead's place."""
    lead, _ = apply(None, core_touchpoint("download", event_id="late", at=timedelta(hours=5)), MODELS)
    visitor, _ = apply(None, core_touchpoint("download", event_id="early", at=timedelta(hours=2),
                                             lead_id="V"), MODELS)
    assert lead is not None and visitor is not None
    merge_states(lead, visitor, MODELS)
    assert lead.rule_counts["test"]["download"] == 1
    day_entries = next(iter(lead.capped["test"]["download"].values()))
    assert [e[1] for e in day_entries] == ["early"]
    # the displaced event is still seen (a re-send is a duplicate), but no longer counts
    replay, _ = apply(lead, core_touchpoint("download", event_id="late", at=timedelta(hours=5)), MODELS)
    assert replay is not None and replay.rule_counts["test"]["download"] == 1
