"""Where a lead came from: first touch and lead-creating touch, whatever the arrival order."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from leadstream.core.identity import visitor_id
from leadstream.core.messages import Link, Touchpoint
from leadstream.core.model import ModelSet
from leadstream.streams.encoding.mappers import lead_to_api
from tests.factories import T0, core_touchpoint
from tests.harness import run
from tests.unit.test_event_time_lifecycle import COOKIE, LEAD, MODEL

H = 3600.0


def _touch(kind: str, event_id: str, hours: float, *, contact: bool, **envelope: str) -> Touchpoint:
    return core_touchpoint(kind, event_id=event_id, at=hours * H, lead_id=LEAD if contact else None,
                           anonymous_id=None if contact else COOKIE, **envelope)


def test_the_first_touch_is_the_visitors_and_the_lead_was_created_by_the_form() -> None:
    ad = _touch("web_visit", "v1", 0, contact=False, source="google", campaign="q4-ads",
                channel="paid_search")
    again = _touch("web_visit", "v2", 5, contact=False, source="newsletter")
    form = Link(lead_id=visitor_id(COOKIE), touchpoint=_touch(
        "form_submit", "f1", 9, contact=True, source="linkedin", campaign="webinar-invite",
        channel="social"))
    late_scan = _touch("event_scan", "s1", 7, contact=True, source="dmexco", channel="event")
    states, _ = run([ad, again, form, late_scan], MODEL)
    view = lead_to_api(states[LEAD], ModelSet.of(MODEL))["attribution"]
    assert (view["first_touch"]["event_id"], view["first_touch"]["campaign"],
            view["first_touch"]["channel"]) == ("v1", "q4-ads", "paid_search")
    # the badge scan arrived last but happened before the form: it made the person a lead
    assert (view["lead_created"]["event_id"], view["lead_created"]["source"],
            view["lead_created"]["type"]) == ("s1", "dmexco", "event_scan")


@settings(max_examples=200, deadline=None)
@given(order=st.permutations(range(6)))
def test_attribution_does_not_depend_on_the_arrival_order(order: list[int]) -> None:
    touches = [_touch("email_open", f"e{i}", i * 2.0, contact=True, source=f"s{i}",
                      payload={"message_id": "m"}) for i in range(6)]
    reference, _ = run(touches, MODEL)
    shuffled, _ = run([touches[i] for i in order], MODEL)
    assert shuffled[LEAD].attribution == reference[LEAD].attribution
    assert reference[LEAD].attribution["first_touch"][1] == "e0"


def _mql_journey() -> list[Touchpoint]:
    profile = {"profile": {"job_title": "Head of IT", "company_size": 800, "industry": "software",
                           "country": "DE"}, "form_id": "f"}
    return [
        _touch("form_submit", "f0", 1, contact=True, source="google", channel="paid_search",
               payload=profile),
        _touch("email_click", "c1", 3, contact=True, source="newsletter", campaign="nl-11",
               channel="email", payload={"message_id": "m", "url": "https://example.com/x"}),
        _touch("demo_request", "d2", 5, contact=True, source="website", campaign="pricing",
               channel="organic"),
        _touch("web_visit", "w3", 8, contact=True, source="linkedin", channel="social",
               payload={"url": "https://example.com/y"}),
    ]


@settings(max_examples=100, deadline=None)
@given(order=st.permutations(range(4)))
def test_the_mql_touch_is_the_last_touch_at_or_before_the_mql(order: list[int]) -> None:
    touches = _mql_journey()
    states, emitted = run([touches[i] for i in order], MODEL)
    lead = states[LEAD]
    mql_at = next(e["at"] for e in lead.history if e["to"] == "mql")
    before = max(((t.occurred_at, t.event_id) for t in touches if t.occurred_at <= mql_at))
    touch = lead.attribution["mql_touch"]
    assert (touch[0], touch[1]) == before
    assert touch[6] == mql_at
    source = next(t for t in touches if t.event_id == touch[1])
    assert touch[3:6] == [source.source, source.campaign, source.channel]
    # the MQL's handover event carries the touch known when it was made: in event-time order,
    # the same one
    mql = next(e for e in emitted if getattr(e, "to_stage", None) == "mql")
    assert mql.attribution["mql_touch"][0] <= mql_at
    if order == sorted(order):
        assert mql.attribution["mql_touch"][:6] == touch[:6]


def test_the_source_type_follows_the_models_rules_first_match_wins() -> None:
    models = ModelSet.of(MODEL)
    cases = {("partner-portal", "referral"): "seeds", ("sdr-team", "outbound_email"): "spears",
             ("google", "paid_search"): "nets", (None, None): "nets",
             ("customer-advocacy", None): "seeds"}
    for (source, channel), expected in cases.items():
        touch = _touch("form_submit", "f", 1, contact=True, payload={"form_id": "x"},
                       **{k: v for k, v in {"source": source, "channel": channel}.items() if v})
        states, emitted = run([touch], MODEL)
        assert lead_to_api(states[LEAD], models)["attribution"]["source_type"] == expected
        created = next(e for e in emitted if getattr(e, "to_stage", None) == "mgl")
        assert created.attribution["source_type"] == expected, (source, channel)


def test_a_merge_keeps_the_earliest_touches_and_the_survivors_mql_touch() -> None:
    from leadstream.core import attribution

    survivor = {"first_touch": [5.0, "s1", "web_visit", "google", None, "paid_search"],
                "lead_created": [6.0, "s2", "form_submit", "google", None, "paid_search"],
                "mql_touch": [9.0, "s3", "demo_request", None, None, None, 9.0]}
    absorbed = {"first_touch": [1.0, "a1", "event_scan", "dmexco", None, "event"],
                "lead_created": [7.0, "a2", "form_submit", None, None, None],
                "mql_touch": [3.0, "a3", "callback_request", None, None, None, 3.0]}
    merged = {kind: list(touch) for kind, touch in survivor.items()}
    attribution.merge(merged, absorbed)
    assert merged["first_touch"] == absorbed["first_touch"]
    assert merged["lead_created"] == survivor["lead_created"]
    assert merged["mql_touch"] == survivor["mql_touch"]
    alone: dict = {}
    attribution.merge(alone, absorbed)
    assert alone == absorbed  # a survivor that was never an MQL takes the other's


def test_a_late_touch_between_the_mql_touch_and_the_mql_takes_its_place() -> None:
    from leadstream.core import attribution

    t0 = T0.timestamp()
    found = {"mql_touch": [t0 + 3 * H, "m", "email_click", "newsletter", None, "email", t0 + 5 * H]}
    for hours, event_id in ((2, "older"), (6, "after-the-mql"), (4, "between")):
        attribution.record(found, _touch("web_visit", event_id, hours, contact=True,
                                         source="linkedin", payload={"url": "/x"}))
    assert found["mql_touch"] == [t0 + 4 * H, "between", "web_visit", "linkedin", None, None,
                                  t0 + 5 * H]
