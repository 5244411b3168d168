"""Journeys through the pure core: input touchpoints → expected transitions and state."""

from __future__ import annotations

import copy
from datetime import timedelta

import pytest

from leadstream.core import Counted, Duplicate, Transition, apply
from leadstream.core.emitted import transition_id
from leadstream.core.state import DEDUPE_WINDOW, LeadState
from tests.factories import core_touchpoint as tp
from tests.factories import make_model
from tests.harness import run, transitions

MODEL = make_model()


def test_first_contact_makes_an_mgl_and_score_threshold_an_mql() -> None:
    states, emitted = run(
        [
            tp("web_visit", at=timedelta(hours=0)),  # 5
            tp("form_submit", at=timedelta(hours=1)),  # 15
            tp("web_visit", at=timedelta(hours=2), payload={"url": "/pricing"}),  # 5 + 20
            tp("web_visit", at=timedelta(hours=3), payload={"url": "/pricing/enterprise"}),  # 25
        ],
        MODEL,
    )
    assert transitions(emitted) == [
        ("visitor", "mgl", "contact_identified"),
        ("mgl", "mql", "score_threshold"),
    ]
    state = states["L1"]
    assert state.stage == "mql"
    assert state.rule_counts == {"test": {"visit": 3, "form": 1, "pricing": 2}}
    mql = [e for e in emitted if isinstance(e, Transition) and e.reason != "lead_changed"][1]
    assert mql.trigger_type == "web_visit"
    events = [e for e in emitted if isinstance(e, Transition)]
    assert mql.sequence == events.index(mql) + 1  # updates before it count too
    assert mql.score == pytest.approx(5 * 3 + 20 * 2 + 15 * 2 ** (-(2 / 24) / 30), abs=0.01)
    # visit: 3 × 5 undecayed = 15 beats the form's slightly decayed 15
    assert [c[0] for c in mql.contributors] == ["pricing", "visit", "form"]


def test_anonymous_visitor_is_scored_but_never_handed_over() -> None:
    states, emitted = run(
        [tp("web_visit", lead_id=None, anonymous_id="c1", payload={"url": "/pricing"})] * 1
        + [tp("web_visit", lead_id=None, anonymous_id="c1", payload={"url": "/pricing"}) for _ in range(5)],
        MODEL,
    )
    assert transitions(emitted) == []
    state = states["anon-c1"]
    assert state.stage == "visitor"
    assert state.touchpoints == 6


def test_hand_raiser_goes_straight_to_mql() -> None:
    _, emitted = run([tp("demo_request")], make_model(min_score=1000))
    assert transitions(emitted) == [
        ("visitor", "mgl", "contact_identified"),
        ("mgl", "mql", "hand_raiser"),
    ]


def test_unsubscribed_lead_is_not_promoted_by_score() -> None:
    _, emitted = run(
        [tp("unsubscribe")] + [tp("web_visit", payload={"url": "/pricing"}) for _ in range(10)],
        MODEL,
    )
    assert transitions(emitted) == [("visitor", "mgl", "contact_identified")]


def test_duplicate_event_counts_once_and_republishes_its_transitions() -> None:
    form = tp("form_submit", event_id="e-form")
    state, first = apply(None, form, MODEL)
    before = copy.deepcopy(state.to_primitive())
    state, again = apply(state, form, MODEL)
    assert state.to_primitive() == before
    assert isinstance(again[0], Duplicate)
    republished = [e for e in again if isinstance(e, Transition)]
    assert republished == [e for e in first if isinstance(e, Transition)]


def test_duplicate_of_a_non_triggering_event_republishes_nothing() -> None:
    state, _ = apply(None, tp("form_submit"), MODEL)
    visit = tp("web_visit", event_id="e-visit")
    state, _ = apply(state, visit, MODEL)
    _, again = apply(state, visit, MODEL)
    assert again == [Duplicate("e-visit", "web_visit")]


def test_dedupe_window_is_bounded() -> None:
    state = LeadState(lead_id="L1")
    for i in range(DEDUPE_WINDOW + 10):
        state, _ = apply(state, tp("email_open", event_id=f"e{i}"), MODEL)
    assert len(state.seen) == DEDUPE_WINDOW
    assert not state.has_seen("e0")
    assert state.has_seen(f"e{DEDUPE_WINDOW + 9}")


def test_transition_ids_are_deterministic_and_name_the_entry() -> None:
    _, a = run([tp("form_submit", lead_id="L9"), tp("demo_request", lead_id="L9")], MODEL)
    _, b = run([tp("chat", lead_id="L9"), tp("callback_request", lead_id="L9")], MODEL)
    ids_a = [e.transition_id for e in a if isinstance(e, Transition)]
    ids_b = [e.transition_id for e in b if isinstance(e, Transition)]
    assert ids_a == ids_b == [transition_id("L9", "mgl", 1), transition_id("L9", "mql", 1)]
    assert len(set(ids_a)) == 2


def test_profile_is_last_write_wins_by_event_time_not_arrival() -> None:
    newer = tp("form_submit", at=timedelta(days=2), payload={"form_id": "f", "profile": {"company": "New"}})
    older = tp("form_submit", at=timedelta(days=1), payload={"form_id": "f", "profile": {"company": "Old", "country": "DE"}})
    for order in ([newer, older], [older, newer]):
        states, _ = run(order, MODEL)
        assert states["L1"].profile == {"company": "New", "country": "DE"}


def test_counted_lists_the_rules_that_scored() -> None:
    _, emitted = apply(None, tp("web_visit", payload={"url": "/pricing"}), MODEL)
    assert emitted[0] == Counted(emitted[0].event_id, "web_visit", ("visit", "pricing"))


def test_trail_keeps_the_latest_touchpoints_in_event_time_order() -> None:
    messages = [tp("email_open", at=timedelta(hours=h)) for h in (5, 1, 3, 2, 4)]
    states, _ = run(messages * 1, MODEL)
    assert [e[2] for e in states["L1"].trail] == sorted(e[2] for e in states["L1"].trail)
