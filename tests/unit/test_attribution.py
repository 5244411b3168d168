"""Where a lead came from: first touch and lead-creating touch, whatever the arrival order."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from leadstream.core.identity import visitor_id
from leadstream.core.messages import Link, Touchpoint
from leadstream.core.model import ModelSet
from leadstream.streams.encoding.mappers import lead_to_api
from tests.factories import core_touchpoint
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
