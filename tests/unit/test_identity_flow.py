"""Visitor links, merge commands and erasure through the pure core, message by message."""

from __future__ import annotations

from datetime import timedelta

import pytest

from leadstream.core.apply import apply
from leadstream.core.emitted import Erased, LeadsMerged, Rejected, Send, Transition
from leadstream.core.identity_flow import pick_survivor
from leadstream.core.messages import Erase, MergeRequest
from leadstream.core.scoring import behaviour_score
from tests.factories import T0, core_link, core_touchpoint, make_model
from tests.harness import run, transitions

MODEL = make_model(min_score=60)
H = timedelta(hours=1)


def _browsing(anonymous_id: str = "cookie-1") -> list:  # type: ignore[type-arg]
    return [core_touchpoint("web_visit", event_id=f"v{i}", at=i * H, lead_id=None,
                            anonymous_id=anonymous_id, payload={"url": "/pricing"})
            for i in range(3)]


def _score(state) -> float:  # type: ignore[no-untyped-def]
    return behaviour_score(state.components["test"], MODEL, T0.timestamp() + 10 * 3600)


def test_a_visitor_is_scored_but_never_handed_over() -> None:
    states, emitted = run(_browsing(), MODEL)
    visitor = states["anon-cookie-1"]
    assert visitor.stage == "visitor" and visitor.touchpoints == 3
    assert _score(visitor) > 0
    assert not [e for e in emitted if isinstance(e, Transition)]


def test_identifying_merges_the_visitor_history_into_the_lead_before_the_form_counts() -> None:
    link = core_link("cookie-1", "form_submit", event_id="form", at=5 * H)
    states, emitted = run([*_browsing(), link], MODEL)
    lead, visitor = states["L1"], states["anon-cookie-1"]
    assert visitor.merged_into == "L1" and visitor.touchpoints == 0 and not visitor.components
    assert lead.touchpoints == 4 and lead.aliases == ["anon-cookie-1"]
    # 3 visits × (5 + 20) + form 15 = 90 ≥ 60: the form submit makes it an MQL at once,
    # and the handover lists the anonymous visits
    assert transitions(emitted) == [("visitor", "mgl", "contact_identified"),
                                    ("mgl", "mql", "score_threshold")]
    mql = [e for e in emitted if isinstance(e, Transition)][-1]
    assert [t[0] for t in mql.trail] == ["v0", "v1", "v2", "form"]
    assert mql.score == pytest.approx(90.0, abs=0.01)  # the visits count with the form
    assert {c[0]: c[2] for c in mql.contributors} == {"visit": 3, "pricing": 3, "form": 1}


def test_later_anonymous_touchpoints_route_to_the_lead() -> None:
    later = core_touchpoint("web_visit", event_id="later", at=8 * H, lead_id=None,
                            anonymous_id="cookie-1", payload={"url": "/"})
    states, emitted = run([*_browsing(), core_link("cookie-1", event_id="form", at=5 * H), later], MODEL)
    assert states["L1"].touchpoints == 5
    assert states["anon-cookie-1"].touchpoints == 0
    assert any(isinstance(e, Send) and e.message.lead_id == "L1" and e.note == "forwarded"
               for e in emitted)


def test_a_replayed_link_counts_nothing_twice() -> None:
    link = core_link("cookie-1", event_id="form", at=5 * H)
    once, first = run([*_browsing(), link], MODEL)
    twice, emitted = run([*_browsing(), link, link], MODEL)
    assert twice["L1"].to_primitive() == once["L1"].to_primitive()
    # the replay re-publishes what the link caused, unchanged (consumers upsert on the id)
    published = [t for t in first if isinstance(t, Transition)]
    again = [t for t in emitted if isinstance(t, Transition)]
    assert published and again == published + published


@pytest.mark.parametrize("crash", ["before_hand_over_sent", "after_hand_over_sent"])
def test_a_crash_in_the_middle_of_a_link_loses_and_doubles_nothing(crash: str) -> None:
    link = core_link("cookie-1", event_id="form", at=5 * H)
    expected, _ = run([*_browsing(), link], MODEL)

    states, _ = run(_browsing(), MODEL)
    visitor_before = states["anon-cookie-1"]
    _, out = apply(visitor_before, link, MODEL)
    (send,) = out
    assert isinstance(send, Send) and send.before_state  # the shell stores the visitor after it
    if crash == "after_hand_over_sent":
        run([send.message], MODEL, states=states)  # delivered, then the worker died
    # restart: the visitor's retired record was never stored, the link is read again
    states["anon-cookie-1"] = visitor_before
    run([link], MODEL, states=states)
    assert states["L1"].to_primitive() == expected["L1"].to_primitive()


def test_a_shared_cookie_never_merges_two_known_people() -> None:
    first = core_link("cookie-1", event_id="f1", at=5 * H, lead_id="alice")
    second = core_link("cookie-1", event_id="f2", at=6 * H, lead_id="bob")
    states, emitted = run([*_browsing(), first, second], MODEL)
    assert states["anon-cookie-1"].merged_into == "alice"
    assert states["alice"].touchpoints == 4 and states["bob"].touchpoints == 1
    assert "anon-cookie-1" not in states["bob"].aliases
    assert any(isinstance(e, Send) and e.note == "link_conflict" for e in emitted)


def _two_leads() -> list:  # type: ignore[type-arg]
    return [
        core_touchpoint("demo_request", event_id="x1", at=0 * H, lead_id="X"),  # X: MQL at once
        core_touchpoint("web_visit", event_id="y1", at=1 * H, lead_id="Y", payload={"url": "/pricing"}),
        core_touchpoint("web_visit", event_id="y2", at=2 * H, lead_id="Y", payload={"url": "/"}),
    ]


def test_merge_command_keeps_the_most_advanced_lead_and_publishes_the_merge() -> None:
    merge = MergeRequest(merge_id="m1", lead_id="Y", other="X", survivor=None, at=T0.timestamp() + 3 * 3600)
    states, emitted = run([*_two_leads(), merge], MODEL)
    assert states["Y"].merged_into == "X"
    assert states["X"].touchpoints == 3 and states["X"].aliases == ["Y"]
    assert states["X"].rule_counts["test"] == {"demo": 1, "visit": 2, "pricing": 1}
    merged = [e for e in emitted if isinstance(e, LeadsMerged)]
    assert merged == [LeadsMerged("m1", "X", "Y", "most_advanced_stage", merge.at)]
    # touchpoints for the merged-away id now count for the survivor
    states, _ = run([core_touchpoint("web_visit", event_id="y3", at=4 * H, lead_id="Y")], MODEL,
                    states=states)
    assert states["X"].touchpoints == 4


def test_merge_command_with_an_explicit_survivor() -> None:
    merge = MergeRequest(merge_id="m1", lead_id="X", other="Y", survivor="Y", at=T0.timestamp() + 3 * 3600)
    states, emitted = run([*_two_leads(), merge], MODEL)
    assert states["X"].merged_into == "Y" and states["Y"].touchpoints == 3
    assert [e.rule for e in emitted if isinstance(e, LeadsMerged)] == ["explicit"]
    # the merged history holds X's demo request: the survivor is promoted by the merge itself,
    # as of that request (decisions are taken in event time)
    assert ("mgl", "mql", "hand_raiser") in transitions(emitted)
    mql = [e for e in emitted if isinstance(e, Transition) and e.lead_id == "Y"][-1]
    assert (mql.to_stage, mql.occurred_at, mql.trigger_event_id) == ("mql", T0.timestamp(), "merge:m1")


def test_merge_of_an_unknown_lead_is_rejected() -> None:
    merge = MergeRequest(merge_id="m1", lead_id="X", other="nobody", survivor=None, at=T0.timestamp())
    states, emitted = run([*_two_leads(), merge], MODEL)
    assert [(e.kind) for e in emitted if isinstance(e, Rejected)] == ["unknown_lead"]
    assert states["X"].merged_into is None


def test_survivor_rule() -> None:
    assert pick_survivor(("a", "mgl", 5.0), ("b", "sal", 9.0), None) == ("b", "most_advanced_stage")
    assert pick_survivor(("a", "mgl", 5.0), ("b", "mgl", 9.0), None) == ("a", "oldest")
    assert pick_survivor(("a", "mgl", 9.0), ("b", "mgl", 9.0), None) == ("a", "oldest")
    assert pick_survivor(("a", "won", 5.0), ("b", "mgl", 9.0), "b") == ("b", "explicit")


def test_erase_removes_the_lead_and_its_aliases_and_later_touchpoints_start_from_nothing() -> None:
    link = core_link("cookie-1", event_id="form", at=5 * H)
    erase = Erase(erase_id="gdpr-1", lead_id="L1", at=T0.timestamp() + 6 * 3600)
    states, emitted = run([*_browsing(), link, erase], MODEL)
    assert states == {}
    assert [e for e in emitted if isinstance(e, Erased)] == [
        Erased("gdpr-1", "L1", ("anon-cookie-1",), erase.at)]
    again = _browsing()[:1]
    states, _ = run(again, MODEL, states=states)
    assert states["anon-cookie-1"].touchpoints == 1 and states["anon-cookie-1"].merged_into is None


def test_erase_by_a_merged_away_id_erases_the_person() -> None:
    merge = MergeRequest(merge_id="m1", lead_id="Y", other="X", survivor=None, at=T0.timestamp() + 3 * 3600)
    erase = Erase(erase_id="gdpr-1", lead_id="Y", at=T0.timestamp() + 4 * 3600)
    states, _ = run([*_two_leads(), merge, erase], MODEL)
    assert states == {}


def test_a_touchpoint_too_late_for_the_lead_is_rejected() -> None:
    model = make_model(lifecycle={"max_lateness_days": 2})
    states, emitted = run([
        core_touchpoint("web_visit", event_id="new", at=timedelta(days=10)),
        core_touchpoint("web_visit", event_id="ok", at=timedelta(days=8, hours=1)),
        core_touchpoint("web_visit", event_id="old", at=timedelta(days=7)),
    ], model)
    assert [(e.event_id, e.kind) for e in emitted if isinstance(e, Rejected)] == [("old", "too_late")]
    assert states["L1"].touchpoints == 2


def test_a_cookie_first_seen_with_its_contact_is_still_an_alias_and_erased_with_the_lead() -> None:
    link = core_link("fresh", event_id="form", at=H)
    erase = Erase(erase_id="gdpr-2", lead_id="L1", at=T0.timestamp() + 2 * 3600)
    states, _ = run([link], MODEL)
    assert states["anon-fresh"].merged_into == "L1" and states["L1"].aliases == ["anon-fresh"]
    states, _ = run([erase], MODEL, states=states)
    assert states == {}


def test_a_hand_over_from_a_newer_build_stops_the_worker_instead_of_going_to_the_dlq() -> None:
    """In a group that mixes builds, an older worker meets a visitor's state it cannot read. A
    Rejected (DLQ) would lose the visitor's history; StateVersionError stops the worker (the lead
    handler re-raises it), and the input is applied again once every worker is upgraded."""
    from leadstream.core.messages import Absorb
    from leadstream.core.state import STATE_VERSION
    from leadstream.exceptions import StateVersionError
    from leadstream.streams.encoding.codecs import decode_state

    states, _ = run([core_touchpoint("web_visit", lead_id=None, anonymous_id="ck-1")], make_model())
    (visitor,) = states.values()
    newer = {**visitor.to_primitive(), "v": STATE_VERSION + 1}
    absorb = Absorb(absorb_id="link-1", lead_id="L1", absorbed_id=visitor.lead_id, absorbed=newer,
                    rule="identified_visitor", at=T0.timestamp())
    with pytest.raises(StateVersionError, match=f"version {STATE_VERSION + 1} is not"):
        apply(None, absorb, make_model())
    with pytest.raises(StateVersionError):
        decode_state(b'{"v": %d, "lead_id": "L1"}' % (STATE_VERSION + 1))


def test_a_person_who_returns_after_an_erasure_gets_transition_ids_of_their_own() -> None:
    """The same lead id, the same stages again: the ids must differ from the erased ones (a CRM
    upserting on them would otherwise overwrite the old records with new content)."""
    journey = [core_touchpoint("demo_request", event_id="d1", at=0.0, lead_id="L1")]
    erase = Erase(erase_id="gdpr-1", lead_id="L1", at=T0.timestamp() + 3600)
    erased: dict[str, int] = {}
    states, first = run([*journey, erase], MODEL, erased=erased)
    assert states == {} and erased == {"L1": 1}
    back = [core_touchpoint("demo_request", event_id="d2", at=2 * H, lead_id="L1")]
    states, second = run(back, MODEL, states=states, erased=erased)
    before = {e.transition_id for e in first if isinstance(e, Transition)}
    after = {e.transition_id for e in second if isinstance(e, Transition)}
    assert len(before) == len(after) == 2 and not before & after
    assert states["L1"].generation == 1
    # and a second erasure starts a third id space
    states, _ = run([Erase(erase_id="gdpr-2", lead_id="L1", at=T0.timestamp() + 3 * 3600)], MODEL,
                    states=states, erased=erased)
    assert erased == {"L1": 2}
    # ids of a never-erased lead are what they always were (no change for existing CRMs)
    from leadstream.core.emitted import transition_id
    assert transition_id("L1", "mgl", 1) == transition_id("L1", "mgl", 1, 0)


def test_a_replayed_or_re_sent_merge_is_taken_in_silently() -> None:
    merge = MergeRequest(merge_id="m1", lead_id="Y", other="X", survivor=None, at=T0.timestamp() + 3 * 3600)
    states, emitted = run([*_two_leads(), merge], MODEL)
    assert states["Y"].merged_into == "X"
    # the same command again (replayed after a crash, or re-sent), and the other way round
    again = [merge, MergeRequest(merge_id="m2", lead_id="X", other="Y", survivor=None,
                                 at=merge.at + 60)]
    states, more = run(again, MODEL, states=states)
    assert not [e for e in more if isinstance(e, Rejected)]
    assert not [e for e in more if isinstance(e, LeadsMerged)]
    assert states["X"].touchpoints == 3
