"""Codecs round-trip exactly; generated JSON Schemas match the models; handover mapping."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from leadstream.core.emitted import Transition
from leadstream.schemas.export import SCHEMA_DIR, json_schemas, render
from leadstream.schemas.handover import HandoverEvent
from leadstream.core.state import LeadState
from leadstream.streams.encoding.codecs import (
    decode_state,
    decode_touchpoint,
    encode_state,
    encode_touchpoint,
    retired_into,
)
from leadstream.streams.encoding.mappers import dlq_record, transition_to_handover
from tests.factories import core_touchpoint as tp
from tests.factories import make_model
from tests.harness import run

ROOT = Path(__file__).parents[2]

kinds = st.sampled_from(["web_visit", "form_submit", "demo_request", "email_open", "unsubscribe"])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(kinds, st.integers(0, 10**7)), min_size=1, max_size=30))
def test_state_round_trips_through_the_table_codec(events) -> None:  # type: ignore[no-untyped-def]
    messages = [
        tp(kind, at=float(at), payload={"form_id": "f", "profile": {"company": "ACME", "company_size": 5}}
           if kind == "form_submit" else None)
        for kind, at in events
    ]
    states, _ = run(messages, make_model())
    state = states["L1"]
    assert decode_state(encode_state(state)) == state


def test_states_stored_by_version_3_still_decode() -> None:
    """Version 3 kept the dedupe window as a list of ``[key, occurred_at, counted]``; version 4
    stores the window's dict as is. A worker upgraded in place must read what it stored before."""
    states, _ = run([tp("web_visit", at=10.0), tp("form_submit", at=20.0, payload={"form_id": "f"})],
                    make_model())
    state = states["L1"]
    assert state.outbox, "the form makes a transition, so the state keeps one"
    kept_as_dicts = [json.loads(text) for _, text in state.outbox]  # up to version 4
    v3 = {**state.to_primitive(), "v": 3, "outbox": kept_as_dicts,
          "seen": [[key, *record] for key, record in state.seen.items()]}
    assert decode_state(json.dumps(v3).encode()) == state
    assert list(decode_state(json.dumps(v3).encode()).seen) == list(state.seen)  # order kept


def test_states_stored_by_version_4_still_decode() -> None:
    """Version 4 kept each emitted transition as a dict; version 5 keeps its JSON text. A replayed
    trigger must re-publish byte-identical handovers from either."""
    states, emitted = run([tp("web_visit", at=10.0),
                           tp("form_submit", at=20.0, payload={"form_id": "f"})], make_model())
    state = states["L1"]
    v4 = {**state.to_primitive(), "v": 4,
          "outbox": [json.loads(text) for _, text in state.outbox]}
    decoded = decode_state(json.dumps(v4).encode())
    assert decoded == state
    first = [e for e in emitted if isinstance(e, Transition)]
    again = [Transition.from_json(text) for text in decoded.kept_for(first[-1].trigger_event_id)]
    assert again == first[-1:]


def test_touchpoint_round_trips_through_the_internal_codec() -> None:
    message = tp("web_visit", payload={"url": "/pricing"}, campaign="spring", at=timedelta(hours=3))
    assert decode_touchpoint(encode_touchpoint(message)) == message


def test_transition_maps_to_a_valid_handover_event() -> None:
    _, emitted = run([tp("form_submit"), tp("demo_request")], make_model())
    transitions = [e for e in emitted if isinstance(e, Transition)]
    event = transition_to_handover(transitions[-1])
    again = HandoverEvent.model_validate_json(event.model_dump_json())
    assert again == event
    assert (event.from_stage, event.to_stage, event.reason, event.sequence) == ("mgl", "mql", "hand_raiser", 2)
    assert event.trigger.type == "demo_request"
    assert [c.rule for c in event.top_contributors] == ["demo", "form"]
    # kept in the lead state as JSON text; a replayed trigger re-publishes it unchanged
    assert Transition.from_json(transitions[-1].to_json()) == transitions[-1]
    assert transition_to_handover(Transition.from_json(transitions[-1].to_json())) \
        .model_dump_json() == event.model_dump_json()


def test_dlq_record_keeps_original_bytes_and_is_deterministic() -> None:
    raw = b"\xff\x00not json"
    kwargs = dict(kind="invalid_json", reason="r", stage="ingest", topic="touchpoints",
                  partition=3, offset=17, timestamp_ms=1, key=b"k", value=raw, headers=[("h", b"v")])
    a, b = dlq_record(**kwargs), dlq_record(**kwargs)  # type: ignore[arg-type]
    assert a.dlq_id == b.dlq_id
    import base64
    assert base64.b64decode(a.value_b64) == raw
    assert json.loads(a.model_dump_json())["source"] == {
        "topic": "touchpoints", "partition": 3, "offset": 17, "timestamp_ms": 1}


def test_committed_json_schemas_match_the_models() -> None:
    """Fails when a message model changes without `leadstream schemas export`."""
    for name, schema in json_schemas().items():
        committed = (SCHEMA_DIR / name).read_text(encoding="utf-8")
        assert committed == render(schema), f"{name} drifted: run `leadstream schemas export`"


def test_core_imports_no_kafka_or_faust() -> None:
    for source in (ROOT / "core").glob("*.py"):
        text = source.read_text()
        for banned in ("faust", "aiokafka", "leadstream.streams", "leadstream.agents"):
            assert f"import {banned}" not in text and f"from {banned}" not in text, source


def test_retired_into_reads_where_a_stored_state_forwards_to() -> None:
    live = LeadState(lead_id="anon-ck", touchpoints=3, aliases=["anon-x"])
    retired = LeadState(lead_id="anon-ck", merged_into="em-1")

    assert retired_into(encode_state(live)) is None
    assert retired_into(encode_state(retired)) == "em-1"
    # a state written with another field order is decoded (no shortcut, same answer)
    reordered = orjson.dumps({"merged_into": "em-2", **{k: v for k, v in
                              retired.to_primitive().items() if k != "merged_into"}})
    assert retired_into(reordered) == "em-2"
    assert retired_into(orjson.dumps({"merged_into": None, **live.to_primitive()})) is None
