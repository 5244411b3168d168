"""Accounts (core/accounts.py): which account a lead belongs to, and an account's state and
events whatever the order its contact updates arrive in."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from leadstream.core.accounts import (AccountRules, AccountState, ContactUpdate, account_of,
                                      apply_contact, contact_updates, engagement_id, evaluate)
from leadstream.core.messages import Erase
from leadstream.core.model import ModelSet
from tests.factories import core_touchpoint, make_model
from tests.harness import run

MODEL = make_model()
RULES = AccountRules()


def test_the_account_is_the_crm_id_else_the_company_domain_else_a_company_email_domain() -> None:
    assert account_of({"account_id": "0015g00000XyZ", "company_domain": "acme.com",
                       "email_domain": "acme.com"}, RULES) == "0015g00000XyZ"
    assert account_of({"company_domain": "WWW.Acme.com", "email_domain": "gmail.com"},
                      RULES) == "acme.com"
    assert account_of({"email_domain": "nordwind.example"}, RULES) == "nordwind.example"
    # a private address names no company: such a lead stays without an account
    assert account_of({"email_domain": "gmail.com"}, RULES) is None
    assert account_of({"email_domain": "gmx.de"}, RULES) is None
    assert account_of({"email_domain": "corp.example"},
                      AccountRules(free_mail_domains=frozenset({"corp.example"}))) is None
    assert account_of({"email_domain": "acme.com"}, AccountRules(enabled=False)) is None


def _lead(lead_id: str, *, events: int, domain: str = "acme.com", title: str = "CTO") -> list:
    profile = {"profile": {"job_title": title, "company_size": 800, "industry": "software",
                           "country": "DE", "email_domain": domain}, "form_id": "f"}
    out = [core_touchpoint("form_submit", lead_id=lead_id, at=0.0, payload=profile,
                           event_id=f"{lead_id}-f")]
    out += [core_touchpoint("web_visit", lead_id=lead_id, at=3600.0 * (i + 1),
                            payload={"url": "/pricing"}, event_id=f"{lead_id}-d{i}")
            for i in range(events)]
    return out


def _updates_of(messages: list) -> list[ContactUpdate]:
    """Every contact update the lead side sends, message by message (the worker sends the last
    of a batch: any subsequence that ends with each lead's last one)."""
    states: dict = {}
    out: list[ContactUpdate] = []
    for message in messages:
        before = states.get(message.lead_id)
        registered = before.account if before is not None else None
        states, _ = run([message], MODEL, states=states)
        out += contact_updates(message.lead_id, registered, states.get(message.lead_id),
                               MODEL, RULES)
    return out


def test_a_lead_tells_its_account_what_it_is_now_and_leaves_it_when_it_moves() -> None:
    messages = _lead("L1", events=2)
    updates = _updates_of(messages)
    assert {u.account_id for u in updates} == {"acme.com"}
    last = updates[-1]
    states, _ = run(messages, MODEL)
    lead = states["L1"]
    assert (last.grade, last.stage, last.role) == ("D", lead.stage, "CTO")
    assert last.version == (messages[-1].occurred_at, 3, lead.transitions)
    assert last.components == lead.components[MODEL.name]
    # the CRM names the account: the lead leaves the domain's account for it
    moved = core_touchpoint("form_submit", lead_id="L1", at=5 * 3600.0, event_id="L1-crm",
                            payload={"form_id": "crm", "profile": {"account_id": "A-42"}})
    states, _ = run(messages + [moved], MODEL)
    sent = contact_updates("L1", "acme.com", states["L1"], MODEL, RULES)
    assert [(u.account_id, u.components is None) for u in sent] == [("acme.com", True),
                                                                     ("A-42", False)]
    assert states["L1"].account == "A-42"
    # erased: the account forgets it
    gone = contact_updates("L1", "A-42", None, MODEL, RULES)
    assert [(u.account_id, u.erased) for u in gone] == [("A-42", True)]


def _account(updates: list[ContactUpdate]) -> tuple[AccountState, list]:
    state, events = None, []
    for update in updates:
        state, out = apply_contact(state, update, MODEL, RULES)
        events += out
    assert state is not None
    return state, events


def test_enough_engaged_contacts_make_an_engaged_account_once() -> None:
    updates = _updates_of(_lead("L1", events=6) + _lead("L2", events=5, title="Head of IT")
                          + _lead("L3", events=1, title="Working Student"))
    state, events = _account(updates)
    view = evaluate(state, MODEL, RULES)
    assert len(events) == 1
    event = events[0]
    assert event.engagement_id == engagement_id("acme.com", 1)
    assert event.engagement >= RULES.engaged_score
    assert {c.lead_id for c in event.contacts} >= {"L1", "L2"}
    assert all(c.score >= RULES.contact_min_score for c in event.contacts)
    # diminishing returns: the best contact counts fully, the second half, …
    scores = [c.score for c in view.contacts]
    assert view.engagement == round(sum(s * 0.5 ** k for k, s in enumerate(scores)), 2)
    assert not state.armed and state.engaged == 1
    # the same updates again (a replay, a re-send) change nothing and publish nothing
    again, more = _account(updates + updates)
    assert more == events and again.to_primitive() == state.to_primitive()


def test_one_engaged_contact_alone_is_not_an_engaged_account() -> None:
    state, events = _account(_updates_of(_lead("L1", events=12)))
    assert evaluate(state, MODEL, RULES).engagement >= RULES.engaged_score
    assert events == []


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_an_accounts_contacts_do_not_depend_on_the_arrival_order(data: st.DataObject) -> None:
    updates = _updates_of(_lead("L1", events=4) + _lead("L2", events=3)
                          + _lead("L3", events=2, domain="acme.com"))
    # each lead's updates reach the account in its own order (one partition), leads interleaved;
    # any of them may be re-sent later (a replay after a crash)
    order = data.draw(st.permutations(range(len(updates))))
    resent = data.draw(st.lists(st.sampled_from(range(len(updates))), max_size=4))
    shuffled = [updates[i] for i in order] + [updates[i] for i in resent]
    reference, ref_events = _account(updates)
    state, events = _account(shuffled)
    assert state.contacts == reference.contacts
    assert evaluate(state, MODEL, RULES) == evaluate(reference, MODEL, RULES)
    # an account that qualifies at the end was announced, whatever the order
    assert bool(events) == bool(ref_events)


def test_an_erased_lead_leaves_no_trace_in_its_account() -> None:
    messages = _lead("L1", events=2) + _lead("L2", events=2)
    updates = _updates_of(messages)
    states, _ = run(messages, MODEL)
    states, _ = run([Erase(erase_id="x1", lead_id="L1", at=states["L1"].last_event_at + 60)],
                    MODEL, states=states)
    assert "L1" not in states
    state, _ = _account(updates + contact_updates("L1", "acme.com", None, MODEL, RULES))
    assert set(state.contacts) == {"L2"} and "L1" not in state.left
    assert "L1" not in str(state.to_primitive())


def test_a_handover_names_the_account_and_a_visitor_has_none() -> None:
    states, emitted = run(_lead("L1", events=1), MODEL)
    mgl = next(e for e in emitted if getattr(e, "to_stage", None) == "mgl")
    assert mgl.account_id == "acme.com"
    models = ModelSet(MODEL, (), accounts=AccountRules(enabled=False))
    _, emitted = run(_lead("L2", events=1), models)
    assert next(e for e in emitted if getattr(e, "to_stage", None) == "mgl").account_id is None
    visitor = core_touchpoint("web_visit", lead_id=None, anonymous_id="c1")
    states, _ = run([visitor], MODEL)
    assert contact_updates("anon-c1", None, states["anon-c1"], MODEL, RULES) == []
