"""Merge commands in flight together, through the lead planner (tests/lead_world.py).

Two commands that pick opposite survivors (X into Y while Y into X) retired both ids: each
hand-over then met a retired id and was dropped, and every later message for the person was
forwarded from one id to the other forever. Now a hand-over goes round such a cycle back to its
own id, which lives again with its own history (core.identity_flow.revive)."""

from __future__ import annotations

import base64
from datetime import timedelta

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadstream.agents.leads.plan import LEADS
from leadstream.core.messages import Link, Message, MergeRequest, Touchpoint
from leadstream.core.model import ModelSet
from leadstream.core.state import LeadState
from leadstream.streams.encoding.codecs import decode_state
from tests.factories import core_link, core_touchpoint, make_model
from leadstream.agents.dlq import origin_of
from tests.lead_world import Record, World

H = timedelta(hours=1)
MODELS = ModelSet(make_model(min_score=30))
PEOPLE = ["ann", "ben", "cid"]


def _states(world: World) -> dict[str, LeadState]:
    return {key.decode(): decode_state(raw) for key, raw in world.tables[LEADS].items()
            if not key.startswith(b"\x00")}


def _settled(world: World, touchpoints: int) -> None:
    """Every id forwards to a live lead, without cycles, and every touchpoint counts once."""
    states = _states(world)
    for lead, state in states.items():
        seen = {lead}
        while state.merged_into is not None:
            assert state.merged_into not in seen, f"forwarding cycle through {sorted(seen)}"
            seen.add(state.merged_into)
            state = states[state.merged_into]
    assert sum(s.touchpoints for s in states.values() if s.merged_into is None) == touchpoints


def test_two_merges_picking_opposite_survivors_settle_without_losing_history() -> None:
    world = World(MODELS)
    for i, person in enumerate(("ann", "ben")):
        world.send(core_touchpoint("web_visit", event_id=f"{person}-1", at=i * H,
                                   lead_id=person, payload={"url": "/"}))
    world.run()
    # both commands reach their first lead before either hand-over arrives
    commands = {m: Record(b"ops", f'{{"command": "merge", "command_id": "{m}"}}'.encode(), i,
                          topic="lead-commands") for i, m in enumerate(("m1", "m2"))}
    world.send(MergeRequest(merge_id="m1", lead_id="ann", other="ben", survivor="ben", at=9e8,
                            origin=origin_of(commands["m1"])))
    world.send(MergeRequest(merge_id="m2", lead_id="ben", other="ann", survivor="ann", at=9e8,
                            origin=origin_of(commands["m2"])))
    world.send(core_touchpoint("web_visit", event_id="ann-2", at=5 * H, lead_id="ann",
                               payload={"url": "/"}))
    world.run([2])
    _settled(world, touchpoints=3)
    conflicts = [r for r in world.on("dlq") if r["kind"] == "merge_conflict"]
    merged = [r for r in world.on("handover") if r["kind"] == "leads_merged"]
    live = [lead for lead, s in _states(world).items() if s.merged_into is None]
    # either one survivor took both in, or both live apart again; an undone merge is reported
    assert (len(live), len(merged), len(conflicts)) in ((1, 1, 1), (2, 0, 2))
    # each undone merge is in the DLQ as the command that asked for it, to be sent again
    for conflict in (orjson.loads(v) for t, _, v in world.produced if t == "dlq"):
        sent = base64.b64decode(conflict["value_b64"])
        assert conflict["source"]["topic"] == "lead-commands" and sent in {
            c.value for c in commands.values()}


_people = st.sampled_from(PEOPLE)


@st.composite
def _journey(draw: st.DrawFn) -> list[Message]:
    out: list[Message] = [core_touchpoint("web_visit", event_id=f"{p}-0", at=0, lead_id=p,
                                          payload={"url": "/"}) for p in PEOPLE]
    for i in range(draw(st.integers(2, 16))):
        at = draw(st.integers(1, 300)) * H
        kind = draw(st.sampled_from(["touch", "anon", "link", "merge", "merge"]))
        if kind == "merge":
            a, b = draw(st.lists(_people, min_size=2, max_size=2, unique=True))
            out.append(MergeRequest(merge_id=f"m{i}", lead_id=a, other=b,
                                    survivor=draw(st.sampled_from([None, a, b])),
                                    at=at.total_seconds()))
        elif kind == "anon":
            out.append(core_touchpoint("web_visit", event_id=f"e{i}", at=at, lead_id=None,
                                       anonymous_id="c1", payload={"url": "/pricing"}))
        elif kind == "link":
            out.append(core_link("c1", event_id=f"e{i}", at=at, lead_id=draw(_people)))
        else:
            out.append(core_touchpoint("web_visit", event_id=f"e{i}", at=at,
                                       lead_id=draw(_people), payload={"url": "/"}))
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(journey=_journey(), batches=st.lists(st.integers(1, 6), min_size=1, max_size=4))
def test_any_mix_of_merge_commands_settles_and_every_touchpoint_counts_once(
        journey: list[Message], batches: list[int]) -> None:
    world = World(MODELS)
    for message in journey:
        world.send(message)
    world.run(batches)  # raises if the messages never settle
    _settled(world, touchpoints=sum(isinstance(m, Touchpoint | Link) for m in journey))
