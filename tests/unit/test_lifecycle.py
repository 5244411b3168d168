"""Table-driven journeys through the full lifecycle: feedback, fit, SLA, cold, model change."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leadstream.core import Feedback, LeadState, ModelSet, Rejected, Tick, Transition, apply, next_deadline
from leadstream.core.emitted import NurtureSignal
from leadstream.core.routing import owner_ranking, route
from leadstream.core.scoring import behaviour_score
from tests.factories import T0, make_model
from tests.factories import core_touchpoint as tp
from tests.harness import run, transitions

HOUR = 3600.0
FIT = {
    "rules": [
        {"id": "senior", "field": "job_title", "match": ["*cto*", "ceo", "head of*"], "points": 25},
        {"id": "mid_size", "field": "company_size", "min": 200, "max": 5000, "points": 15},
        {"id": "dach", "field": "country", "values": ["DE", "AT", "CH"], "points": 10},
        {"id": "free_mail", "field": "email_domain", "values": ["gmail.com"], "points": -30},
        {"id": "competitor", "field": "email_domain", "values": ["rival.example"], "disqualify": True},
    ],
    "grades": {"A": 40, "B": 25, "C": 10},
}
ROUTING = {
    "rules": [
        {"id": "dach_enterprise", "when": {"country": ["DE", "AT", "CH"], "company_size": {"min": 1000}},
         "team": "dach-enterprise"},
        {"id": "dach", "when": {"country": ["DE", "AT", "CH"]}, "team": "dach"},
        {"id": "rest", "team": "international"},
    ],
    "teams": {
        "dach-enterprise": {"owners": {"anna": 2, "ben": 1}},
        "dach": {"owners": {"clara": 1, "david": 1, "eva": 1}},
        "international": {"owners": {"felix": 1}},
    },
}
MODEL = make_model(min_grade="C", fit=FIT, routing=ROUTING,
                   lifecycle={"sla_hours": 48, "recycle_after_days": 30})
CTO = {"job_title": "CTO", "company_size": 800, "country": "DE", "email_domain": "acme.example"}


def form(profile: dict, **kw) -> object:  # type: ignore[type-arg]
    return tp("form_submit", payload={"form_id": "f", "profile": profile}, **kw)


def fb(verdict: str, at: float = 10 * HOUR, fid: str | None = None, **kw) -> Feedback:  # type: ignore[no-untyped-def]
    return Feedback(feedback_id=fid or f"fb-{verdict}-{at}", lead_id="L1", verdict=verdict,
                    occurred_at=T0.timestamp() + at, **kw)


def journey(messages: list, model=MODEL):  # type: ignore[no-untyped-def]
    state, out = None, []
    for m in messages:
        state, emitted = apply(state, m, model)
        out += emitted
    return state, out


def moves(emitted: list) -> list[tuple[str, str, str]]:  # type: ignore[type-arg]
    return transitions(emitted)


def events(emitted: list) -> list[Transition]:  # type: ignore[type-arg]
    """The transitions and breaches (not the lead_changed updates between them)."""
    return [e for e in emitted if isinstance(e, Transition) and e.reason != "lead_changed"]


def test_visitor_to_won_with_grade_matrix_temperature_and_routing() -> None:
    state, out = journey([
        form(CTO, at=0),
        tp("demo_request", at=HOUR, payload={"bant": {"timeline": "immediate", "budget": 50000}}),
        fb("accepted", owner="anna"), fb("qualified", at=20 * HOUR), fb("won", at=30 * HOUR),
    ])
    assert moves(out) == [
        ("visitor", "mgl", "contact_identified"), ("mgl", "mql", "hand_raiser"),
        ("mql", "sal", "sales_accepted"), ("sal", "sql", "sales_qualified"), ("sql", "won", "closed_won"),
    ]
    mql = events(out)[1]
    assert (mql.grade, mql.fit_points) == ("A", 50.0)
    assert mql.score == pytest.approx(55.0, abs=0.1)
    assert mql.matrix == "A2"  # grade A, score 55: band 2 (50–75)
    assert mql.temperature == "warm"  # hot needs score ≥ 70
    assert mql.routing == {"team": "dach", "owner": route("L1", CTO, MODEL)["owner"], "rule": "dach"}
    assert mql.bant == {"timeline": "immediate", "budget": 50000}
    assert state is not None and state.stage == "won" and state.routing["owner"] == "anna"
    # every handover event of the lead counts, updates included: 1, 2, 3 … without gaps
    sequences = [e.sequence for e in out if isinstance(e, Transition)]
    assert sequences == list(range(1, len(sequences) + 1))


def test_rejected_lead_is_recycled_and_re_enters_mql_on_re_engagement() -> None:
    pricing = {"url": "/pricing"}
    _, out = journey([
        form(CTO, at=0),
        *[tp("web_visit", payload=pricing, at=h * HOUR) for h in (1, 2)],  # 15 + 2·25 = 65
        fb("rejected", at=5 * HOUR, reason="no_budget"),
        *[tp("web_visit", payload=pricing, at=h * HOUR) for h in (6, 7)],
    ])
    assert moves(out) == [
        ("visitor", "mgl", "contact_identified"), ("mgl", "mql", "score_threshold"),
        ("mql", "recycled", "sales_rejected"), ("recycled", "mql", "re_engaged"),
    ]
    transitions = events(out)
    assert transitions[2].detail == "no_budget"
    assert transitions[1].transition_id != transitions[3].transition_id  # 1st and 2nd MQL entry


def test_competitor_is_disqualified_and_never_promoted() -> None:
    _, out = journey([form({**CTO, "email_domain": "rival.example"}), tp("demo_request")])
    assert moves(out) == [("visitor", "mgl", "contact_identified"),
                          ("mgl", "disqualified", "disqualify_rule")]
    assert events(out)[1].detail == "competitor"


def test_hand_raiser_with_a_poor_grade_waits_for_the_score() -> None:
    student = {"job_title": "Working Student", "email_domain": "gmail.com"}
    _, out = journey([form(student), tp("demo_request")])
    assert moves(out) == [("visitor", "mgl", "contact_identified")]


@pytest.mark.parametrize(
    ("stage_messages", "verdict", "stage"),
    [
        ([], "accepted", "mgl"),
        ([tp("demo_request")], "qualified", "mql"),
        ([tp("demo_request")], "won", "mql"),
        ([tp("demo_request"), fb("accepted", at=1)], "accepted", "sal"),
    ],
)
def test_impossible_verdicts_are_rejected_with_a_reason_not_a_crash(stage_messages, verdict, stage) -> None:  # type: ignore[no-untyped-def]
    state, _ = journey([form(CTO), *stage_messages])
    assert state is not None and state.stage == stage
    before = state.to_primitive()
    after, out = apply(state, fb(verdict, at=99), MODEL)
    assert len(out) == 1 and isinstance(out[0], Rejected)
    assert out[0].kind == "impossible_verdict"
    assert f"'{verdict}'" in out[0].reason and f"'{stage}'" in out[0].reason
    assert after is not None and after.to_primitive() == before


def test_feedback_for_an_unknown_lead_is_rejected() -> None:
    state, out = apply(None, fb("accepted"), MODEL)
    assert state is None
    assert [(r.kind) for r in out if isinstance(r, Rejected)] == ["unknown_lead"]


def test_duplicate_feedback_republishes_instead_of_rejecting() -> None:
    state, _ = journey([form(CTO), tp("demo_request")])
    verdict = fb("accepted", fid="crm-77")
    state, first = apply(state, verdict, MODEL)
    state, again = apply(state, verdict, MODEL)
    assert events(again) == first


def test_sla_breach_reroutes_to_the_next_owner_with_a_fake_clock() -> None:
    enterprise = {**CTO, "company_size": 2000}
    state, out = journey([form(enterprise), tp("demo_request", at=HOUR)])
    first_owner = state.routing["owner"]  # type: ignore[union-attr]
    ranking = owner_ranking("L1", {"anna": 2, "ben": 1})
    assert first_owner == ranking[0]
    start = T0.timestamp() + HOUR
    state, early = apply(state, Tick("t1", "L1", start + 47 * HOUR), MODEL)
    assert early == []
    state, breach = apply(state, Tick("t2", "L1", start + 48 * HOUR), MODEL)
    (event,) = breach
    assert isinstance(event, Transition)
    assert (event.kind, event.from_stage, event.to_stage, event.reason) == ("sla_breach", "mql", "mql", "sla_breach")
    assert event.routing == {"team": "dach-enterprise", "owner": ranking[1], "rule": "dach_enterprise",
                             "previous_owner": first_owner}
    state, again = apply(state, Tick("t3", "L1", start + 49 * HOUR), MODEL)
    assert again == []  # the new owner has a fresh SLA window
    state, accepted = apply(state, fb("accepted", at=60 * HOUR), MODEL)
    assert moves(accepted) == [("mql", "sal", "sales_accepted")]
    _, after = apply(state, Tick("t4", "L1", start + 200 * HOUR), MODEL)
    assert after == []  # accepted leads have no SLA


def test_an_idle_mql_goes_cold_and_is_recycled() -> None:
    state, _ = journey([form(CTO), tp("demo_request")])
    state, out = apply(state, Tick("t", "L1", T0.timestamp() + 31 * 86400), MODEL)
    assert moves(out)[0] == ("mql", "recycled", "went_cold")


def test_model_change_is_published_with_its_reason() -> None:
    state, _ = journey([form(CTO), tp("web_visit")])  # 15 + 5 = 20 < 50
    assert state is not None and state.stage == "mgl"
    cheaper = make_model(min_score=15, min_grade="C", version="2", fit=FIT, routing=ROUTING)
    state, out = apply(state, Tick("t", "L1", T0.timestamp() + HOUR), cheaper)
    assert moves(out) == [("mgl", "mql", "model_change")]
    assert [e.model_version for e in events(out)] == ["2"]
    _, again = apply(state, Tick("t2", "L1", T0.timestamp() + 2 * HOUR), cheaper)
    assert again == []


def test_several_models_score_side_by_side_and_the_primary_drives() -> None:
    product_b = make_model([{"id": "visit", "type": "web_visit", "points": 1}], name="product-b")
    models = ModelSet(MODEL, (product_b,))
    state, out = journey([form(CTO), tp("web_visit"), tp("demo_request")], models)
    mql = events(out)[-1]
    assert mql.scores == {"test": pytest.approx(mql.score), "product-b": 1.0}
    assert state is not None and set(state.components) == {"test", "product-b"}


def test_routing_is_deterministic_and_weighted() -> None:
    owners = {"anna": 2.0, "ben": 1.0}
    firsts = Counter(owner_ranking(f"lead-{i}", owners)[0] for i in range(3000))
    assert firsts["anna"] / 3000 == pytest.approx(2 / 3, abs=0.04)
    assert owner_ranking("lead-1", owners) == owner_ranking("lead-1", dict(reversed(owners.items())))


capped = make_model([{"id": "open", "type": "email_open", "points": 3, "half_life_days": 5, "daily_cap": 2}])


@settings(max_examples=150, deadline=None)
@given(st.lists(st.floats(0, 5 * 86400, allow_nan=False), min_size=1, max_size=20), st.data())
def test_daily_caps_are_order_independent_and_bound_the_score(times, data) -> None:  # type: ignore[no-untyped-def]
    messages = [tp("email_open", event_id=f"o{i}", at=t) for i, t in enumerate(times)]
    a, _ = run(messages, capped)
    b, _ = run(data.draw(st.permutations(messages)), capped)
    sa, sb = a["L1"], b["L1"]
    at = sa.last_event_at
    score_a = behaviour_score(sa.components["test"], capped, at)
    assert score_a == pytest.approx(behaviour_score(sb.components["test"], capped, at), abs=1e-9)
    days = Counter(int((T0.timestamp() + t) // 86400) for t in times)
    assert sa.rule_counts["test"]["open"] == sum(min(n, 2) for n in days.values())
    assert score_a <= 3 * 2 * len(days) + 1e-9


def test_grade_thresholds_and_matrix() -> None:
    from leadstream.core.fit import grade
    assert grade(CTO, MODEL) == "A"
    assert grade({"country": "DE"}, MODEL) == "C"
    assert grade({"job_title": "Intern"}, MODEL) == "D"
    assert MODEL.engagement.band(80) == 1 and MODEL.engagement.band(10) == 4


def test_a_recycled_lead_needs_new_engagement_not_just_its_old_score() -> None:
    pricing = {"url": "/pricing"}
    state, out = journey([
        form(CTO, at=0),
        *[tp("web_visit", payload=pricing, at=h * HOUR) for h in (1, 2)],  # 65 points: MQL
        fb("rejected", at=5 * HOUR, reason="not_now"),
        tp("web_visit", at=6 * HOUR),  # +5 only: the old score alone does not count
    ])
    assert state is not None and state.stage == "recycled"
    state, out = apply(state, tp("webinar", at=7 * HOUR, payload={"webinar_id": "w", "status": "attended"}), MODEL)
    assert moves(out) == []  # the test model has no webinar rule: still only 5 new points
    state, out = apply(state, tp("web_visit", payload=pricing, at=8 * HOUR), MODEL)
    assert moves(out) == [("recycled", "mql", "re_engaged")]  # 5 + 25 = 30 ≥ 20 new


_STEPS = st.lists(
    st.sampled_from(["form", "visit", "demo", "accepted", "rejected", "qualified", "won"]),
    max_size=8,
)


@settings(max_examples=200, deadline=None)
@given(steps=_STEPS, gap_hours=st.floats(min_value=0.0, max_value=2000.0))
def test_ticks_change_a_lead_exactly_at_its_next_deadline(steps: list[str], gap_hours: float) -> None:
    """The worker ticks a lead only at ``next_deadline``: earlier ticks must be no-ops, and a lead
    without a deadline must never change on a tick — otherwise the worker would miss events."""
    makers = {
        "form": lambda at: form(CTO, at=at),
        "visit": lambda at: tp("web_visit", at=at),
        "demo": lambda at: tp("demo_request", at=at),
    }
    state = None
    for i, step in enumerate(steps):
        at = i * HOUR
        message = makers[step](at) if step in makers else fb(step, at=at)
        state, _ = apply(state, message, MODEL)
    if state is None:
        return
    due = next_deadline(state, MODEL)

    def tick(at: float) -> list:  # type: ignore[type-arg]
        return apply(LeadState.from_primitive(state.to_primitive()), Tick("probe", "L1", at), MODEL)[1]

    if due is None:
        assert tick(T0.timestamp() + (len(steps) + gap_hours) * HOUR) == []
    else:
        assert tick(due - 1.0) == []
        out = tick(due)
        assert out and all(isinstance(e, Transition | NurtureSignal) for e in out)


def test_repeated_sla_breaches_cycle_through_the_team_and_stay_bounded() -> None:
    enterprise = {**CTO, "company_size": 2000}  # team dach-enterprise: anna (2), ben (1)
    state, _ = journey([form(enterprise), tp("demo_request")])
    owners = [state.routing["owner"]]  # type: ignore[union-attr]
    for _ in range(6):
        due = next_deadline(state, MODEL)  # type: ignore[arg-type]
        assert due is not None
        state, out = apply(state, Tick(f"due:{due}", "L1", due), MODEL)
        assert [e.reason for e in events(out)] == ["sla_breach"]
        owners.append(state.routing["owner"])  # type: ignore[union-attr]
    assert owners[:6] == owner_ranking("L1", {"anna": 2, "ben": 1}) * 3
    assert len(state.routing["tried"]) <= 2  # type: ignore[union-attr]


DAY = 86400.0


def _lost() -> tuple[LeadState, list[object]]:
    """An MQL that sales accepted, qualified and lost on day 3."""
    return journey([form(CTO), tp("demo_request", at=HOUR), fb("accepted", at=2 * DAY),
                    fb("qualified", at=2.5 * DAY), fb("lost", at=3 * DAY)])


def test_a_lost_lead_goes_back_to_nurturing_after_the_cool_off() -> None:
    state, _ = _lost()
    assert state.stage == "lost"
    due = next_deadline(state, MODEL)
    assert due == T0.timestamp() + 3 * DAY + 180 * DAY  # the model's default cool-off
    same, out = apply(state, Tick("early", "L1", due - 1), MODEL)
    assert moves(out) == [] and same.stage == "lost"
    state, out = apply(state, Tick("due", "L1", due), MODEL)
    assert moves(out) == [("lost", "recycled", "nurture")]
    assert [t.occurred_at for t in events(out)] == [due]
    assert [h["to"] for h in state.history][-2:] == ["lost", "recycled"]  # the outcome stays on record
    # from here it is any recycled lead: old points do not count, a hand-raise does
    state, out = apply(state, tp("web_visit", at=due + DAY), MODEL)
    assert moves(out) == []
    state, out = apply(state, tp("demo_request", at=due + 2 * DAY), MODEL)
    assert moves(out) == [("recycled", "mql", "hand_raiser")]


def test_a_demo_request_after_the_cool_off_reaches_sales_before_any_tick() -> None:
    state, _ = _lost()
    a_year_later = 3 * DAY + 365 * DAY
    state, out = apply(state, tp("demo_request", at=a_year_later), MODEL)
    assert moves(out) == [("lost", "recycled", "nurture"), ("recycled", "mql", "hand_raiser")]
    recycled = events(out)[0]
    assert recycled.occurred_at == T0.timestamp() + 183 * DAY  # as of the cool-off's end
    assert recycled.trigger_event_id == events(out)[1].trigger_event_id
    # the tick that was due meanwhile changes nothing any more
    _, out = apply(state, Tick("late", "L1", T0.timestamp() + 183 * DAY), MODEL)
    assert moves(out) == []


def test_a_touchpoint_within_the_cool_off_leaves_a_lost_lead_lost() -> None:
    state, _ = _lost()
    state, out = apply(state, tp("demo_request", at=30 * DAY), MODEL)
    assert moves(out) == [] and state.stage == "lost"


def test_lost_stays_terminal_without_a_cool_off_and_disqualified_always() -> None:
    terminal = make_model(min_grade="C", fit=FIT, routing=ROUTING,
                          lifecycle={"lost_cool_off_days": None})
    state, _ = journey([form(CTO), tp("demo_request", at=HOUR), fb("accepted", at=2 * DAY),
                        fb("lost", at=3 * DAY)], model=terminal)
    assert state.stage == "lost" and next_deadline(state, terminal) is None
    state, out = apply(state, tp("demo_request", at=900 * DAY), terminal)
    assert moves(out) == []
    competitor = {**CTO, "email_domain": "rival.example"}
    state, _ = journey([form(competitor)])
    assert state.stage == "disqualified" and next_deadline(state, MODEL) is None


FULL_BANT = {"budget": 50000, "authority": True, "need": "CRM sync", "timeline": "quarter"}


def chat(bant: dict, **kw) -> object:  # type: ignore[type-arg]
    return tp("chat", payload={"bant": bant}, **kw)


def test_full_bant_with_an_acceptable_grade_makes_an_mgl_an_mql_at_once() -> None:
    state, out = journey([form(CTO), chat(FULL_BANT, at=HOUR)])
    assert moves(out) == [("visitor", "mgl", "contact_identified"), ("mgl", "mql", "bant_qualified")]
    mql = events(out)[-1]
    assert mql.bant_status == "qualified" and mql.score < 50  # not the score
    poor = {**CTO, "job_title": "Student", "company_size": 5, "country": "US"}
    state, out = journey([form(poor), chat(FULL_BANT, at=HOUR)])
    assert state.stage == "mgl"  # grade D is below the BANT rule's C


def test_no_budget_or_no_authority_holds_back_a_score_based_mql_not_a_hand_raise() -> None:
    hot = [form(CTO), tp("web_visit", at=1, payload={"url": "/pricing"}),
           tp("web_visit", at=2, payload={"url": "/pricing"}), tp("form_submit", at=3,
                                                              payload={"form_id": "f"})]
    state, _ = journey(hot)
    assert state.stage == "mql"  # the score alone promotes it
    state, out = journey([form(CTO), chat({"budget": 0}, at=0.5), *hot[1:]])
    assert state.stage == "mgl" and moves(out)[-1] == ("visitor", "mgl", "contact_identified")
    from leadstream.streams.encoding.mappers import lead_to_api
    assert lead_to_api(state, ModelSet.of(MODEL))["bant_status"] == \
        {"status": "held_back", "holding_back": ["budget"]}
    state, out = apply(state, tp("demo_request", at=4), MODEL)  # a hand-raise still goes through
    assert moves(out) == [("mgl", "mql", "hand_raiser")]
    assert [t.bant_status for t in events(out)] == ["held_back"]
    # a later positive budget releases the hold
    state, out = journey([form(CTO), chat({"budget": 0}, at=0.5), *hot[1:],
                          chat({"budget": 9000}, at=5)])
    assert state.stage == "mql"


def test_a_recycled_lead_needs_new_bant_not_the_bant_that_got_it_there() -> None:
    state, _ = journey([form(CTO), chat(FULL_BANT, at=HOUR), fb("rejected", at=2 * HOUR)])
    assert state.stage == "recycled"
    state, out = apply(state, tp("web_visit", at=3 * HOUR), MODEL)
    assert moves(out) == []
    state, out = apply(state, chat({**FULL_BANT, "timeline": "immediate"}, at=4 * HOUR), MODEL)
    assert moves(out) == [("recycled", "mql", "bant_qualified")]


def test_bant_rules_are_configurable() -> None:
    off = make_model(min_grade="C", fit=FIT, lifecycle={"bant": {"qualify_min_grade": None,
                                                                  "hold_back_on": []}})
    state, _ = journey([form(CTO), chat(FULL_BANT, at=HOUR)], model=off)
    assert state.stage == "mgl"
    state, _ = journey([form(CTO), chat({"budget": 0}, at=0.5),
                        tp("web_visit", at=1, payload={"url": "/pricing"}),
                        tp("web_visit", at=2, payload={"url": "/pricing"}),
                        tp("form_submit", at=3, payload={"form_id": "f"})], model=off)
    assert state.stage == "mql"


def _signals(out: list) -> list[tuple[str, str, str]]:  # type: ignore[type-arg]
    return [(e.signal, e.reason, e.stage) for e in out if isinstance(e, NurtureSignal)]


def test_nurture_signals_for_recycled_cold_and_stalled_leads() -> None:
    # rejected by sales → recycled
    state, out = journey([form(CTO), tp("demo_request", at=HOUR), fb("rejected", at=2 * HOUR)])
    assert _signals(out) == [("recycled", "sales_rejected", "recycled")]
    # an idle MQL goes cold
    state, _ = journey([form(CTO), tp("demo_request")])
    _, out = apply(state, Tick("t", "L1", T0.timestamp() + 31 * DAY), MODEL)
    assert _signals(out) == [("went_cold", "went_cold", "recycled")]
    # an MGL that does not move on: one stalled signal per time it became an MGL
    state, _ = journey([form(CTO)])
    due = next_deadline(state, MODEL)
    assert due == T0.timestamp() + 30 * DAY  # the default stall_after_days
    state, out = apply(state, Tick("stall", "L1", due), MODEL)
    (stalled,) = [e for e in out if isinstance(e, NurtureSignal)]
    assert (stalled.signal, stalled.reason, stalled.occurred_at) == ("stalled", "no_progress", due)
    assert moves(out) == [] and state.stage == "mgl"
    _, again = apply(state, Tick("later", "L1", due + DAY), MODEL)
    assert _signals(again) == []
    # a lost lead cooled off
    state, _ = _lost()
    _, out = apply(state, Tick("due", "L1", next_deadline(state, MODEL)), MODEL)
    assert _signals(out) == [("recycled", "nurture", "recycled")]


def test_a_replayed_trigger_re_publishes_the_same_nurture_signal() -> None:
    messages = [form(CTO), tp("demo_request", at=HOUR), fb("rejected", at=2 * HOUR)]
    state, out = journey(messages)
    _, replayed = apply(state, messages[-1], MODEL)
    ids = [e.signal_id for e in out if isinstance(e, NurtureSignal)]
    assert ids and [e.signal_id for e in replayed if isinstance(e, NurtureSignal)] == ids
    _, other_order = journey(messages)
    assert [e.signal_id for e in other_order if isinstance(e, NurtureSignal)] == ids


def test_a_reinstated_lead_goes_back_to_nurturing_and_its_rule_no_longer_disqualifies() -> None:
    """``disqualified`` is terminal unless the CRM reinstates the lead (verdict ``reinstated``):
    it is recycled, and the fit rule that disqualified it is waived, so its next touchpoints do
    not disqualify it again; new engagement makes it an MQL like any recycled lead."""
    competitor = {**CTO, "email_domain": "rival.example"}  # a partner, the CRM knows better
    state, out = journey([form(competitor), tp("demo_request", at=HOUR)])
    assert state.stage == "disqualified"
    assert fb("reinstated").verdict == "reinstated"
    state, out = apply(state, fb("reinstated", at=DAY, reason="partner"), MODEL)
    assert moves(out) == [("disqualified", "recycled", "sales_reinstated")]
    assert [e.signal for e in out if isinstance(e, NurtureSignal)] == ["recycled"]
    state, out = apply(state, form(competitor, at=2 * DAY), MODEL)
    assert state.stage == "recycled"  # the waived rule does not fire again
    state, out = apply(state, tp("demo_request", at=3 * DAY), MODEL)
    assert moves(out) == [("recycled", "mql", "hand_raiser")]
    # a verdict for a lead that is not disqualified is impossible
    state, out = apply(state, fb("reinstated", at=4 * DAY), MODEL)
    assert [e.kind for e in out if isinstance(e, Rejected)] == ["impossible_verdict"]
