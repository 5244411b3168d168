"""Consent leaves leadstream: every statement of a known lead's consent is published once as a
``consent_changed`` event, with an id of its own, whatever order it arrived in."""

from __future__ import annotations

from leadstream.core import apply
from leadstream.core.emitted import ConsentChanged
from leadstream.core.identity import visitor_id
from leadstream.core.model import ModelSet
from leadstream.streams.encoding.mappers import consent_to_handover, lead_to_api
from tests.factories import core_link, core_touchpoint, make_model
from tests.harness import run

MODEL = make_model()
HOUR = 3600.0


def _consent(emitted: list[object]) -> list[tuple[str, str, str]]:
    return [(e.lead_id, e.scope, e.status) for e in emitted if isinstance(e, ConsentChanged)]


def test_each_statement_of_a_known_lead_is_published() -> None:
    messages = [
        core_touchpoint("form_submit", event_id="f", payload={"form_id": "f"}),
        core_touchpoint("unsubscribe", event_id="u", at=HOUR, payload={"scope": "newsletter"}),
        core_touchpoint("newsletter_signup", event_id="n", at=2 * HOUR, payload={}),
        core_touchpoint("unsubscribe", event_id="m", at=3 * HOUR, payload={}),
        core_touchpoint("demo_request", event_id="d", at=4 * HOUR),
        core_touchpoint("email_bounce", event_id="s", at=5 * HOUR, payload={"bounce": "soft"}),
        core_touchpoint("email_bounce", event_id="h", at=6 * HOUR, payload={"bounce": "hard"}),
    ]
    states, emitted = run(messages, MODEL)
    assert _consent(emitted) == [("L1", "newsletter", "opted_out"), ("L1", "newsletter", "opted_in"),
                                 ("L1", "marketing", "opted_out"), ("L1", "all", "opted_in"),
                                 ("L1", "email", "bounced")]
    view = lead_to_api(states["L1"], ModelSet.of(MODEL))["consent"]
    assert view["marketing"]["status"] == "opted_out" and view["all"]["status"] == "opted_in"
    assert view["email"]["status"] == "bounced" and view["newsletter"]["status"] == "opted_in"
    record = consent_to_handover(next(e for e in emitted if isinstance(e, ConsentChanged)))
    assert record.kind == "consent_changed" and record.trigger.event_id == "u"


def test_a_visitors_consent_is_published_when_it_becomes_a_lead() -> None:
    anonymous = core_touchpoint("unsubscribe", event_id="u", lead_id=None, anonymous_id="c1",
                                payload={"scope": "marketing"})
    states, emitted = run([anonymous], MODEL)
    assert _consent(emitted) == []  # nobody to tell yet
    states, emitted = run([core_link("c1", event_id="f", at=HOUR, payload={"form_id": "f"})],
                          MODEL, states=states)
    assert _consent(emitted) == [("L1", "marketing", "opted_out")]
    assert states[visitor_id("c1")].merged_into == "L1"


def test_ids_name_the_statement_and_a_replay_publishes_the_same() -> None:
    messages = [core_touchpoint("form_submit", event_id="f", payload={"form_id": "f"}),
                core_touchpoint("unsubscribe", event_id="u", at=HOUR, payload={})]
    _, first = run(messages, MODEL)
    _, late_first = run(list(reversed(messages)), MODEL)  # the opt-out arrives first
    ids = {e.change_id for e in first if isinstance(e, ConsentChanged)}
    assert ids == {e.change_id for e in late_first if isinstance(e, ConsentChanged)}
    assert len(ids) == 1
    states, _ = run(messages, MODEL)
    state, again = apply(states["L1"], messages[1], MODEL)
    assert {e.change_id for e in again if isinstance(e, ConsentChanged)} == ids
    _, again = apply(state, core_touchpoint("web_visit", event_id="w", at=2 * HOUR), MODEL)
    assert _consent(again) == []  # nothing new: nothing published
