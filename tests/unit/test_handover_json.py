"""The worker's handover encoder writes exactly the bytes of the pydantic contract model."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from leadstream.config import load_model
from leadstream.core.emitted import Transition
from leadstream.core.model import ModelSet
from leadstream.demo.traffic import TrafficGenerator
from leadstream.exceptions import RejectedMessage
from leadstream.schemas.touchpoints import parse_touchpoint
from leadstream.streams import mappers
from leadstream.streams.mappers import (
    routed_touchpoint,
    transition_to_handover,
    transition_to_handover_json,
)
from tests.harness import run


def _contract_bytes(transition: Transition) -> bytes:
    return transition_to_handover(transition).model_dump_json().encode()


def _demo_transitions(touchpoints: int) -> list[Transition]:
    """What the core emits for the demo traffic with the default model."""
    traffic = TrafficGenerator(people=300, total=touchpoints, seed=7)
    messages: list[Any] = []
    for _ in range(touchpoints):
        try:
            messages.append(routed_touchpoint(parse_touchpoint(next(traffic).value, max_bytes=1_000_000)))
        except RejectedMessage:
            continue
    _, emitted = run(messages, ModelSet.of(load_model()))
    return [item for item in emitted if isinstance(item, Transition)]


def test_demo_transitions_encode_to_the_contract_bytes_without_pydantic(
        monkeypatch: pytest.MonkeyPatch) -> None:
    transitions = _demo_transitions(3_000)
    assert len(transitions) > 50
    expected = [_contract_bytes(t) for t in transitions]

    def no_fallback(transition: Transition) -> bytes:
        raise AssertionError(f"{transition.transition_id} took the pydantic path")

    monkeypatch.setattr(mappers, "_validated", no_fallback)
    assert [transition_to_handover_json(t) for t in transitions] == expected


json_leaf = (st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.text(max_size=8)
             | st.floats(allow_nan=True, allow_infinity=True))
json_value = st.recursive(json_leaf, lambda inner: st.lists(inner, max_size=3)
                          | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=8)
number = (st.floats(allow_nan=True, allow_infinity=True) | st.integers(-(2**1100), 2**1100))
when = st.floats(min_value=0, max_value=4_102_444_800, allow_nan=False)  # up to 2100
word = st.text(max_size=12)

transitions = st.builds(
    Transition,
    transition_id=word, lead_id=word, sequence=st.integers(0, 2**40),
    kind=st.sampled_from(["stage_transition", "sla_breach", "bogus"]),
    from_stage=word, to_stage=word, reason=word, occurred_at=when,
    trigger_event_id=word, trigger_type=word, score=number,
    grade=st.sampled_from(["A", "B", "C", "D", "E"]), fit_points=number, matrix=word,
    temperature=st.sampled_from(["cold", "warm", "hot", "tepid"]),
    model_name=word, model_version=word,
    contributors=st.lists(st.tuples(word, number, st.integers(0, 2**40)), max_size=3).map(tuple),
    trail=st.lists(st.tuples(word, word, when), max_size=3).map(tuple),
    profile=st.dictionaries(word, json_value, max_size=4),
    bant=st.dictionaries(word, json_value, max_size=3),
    routing=st.dictionaries(st.sampled_from(["team", "owner", "rule", "previous_owner", "extra"]),
                            st.none() | word, max_size=4),
    scores=st.dictionaries(word, number, max_size=3),
    detail=st.none() | word,
)


@settings(max_examples=400, deadline=None)
@given(transitions)
def test_any_transition_encodes_to_the_contract_bytes_or_fails_as_the_contract_does(
        transition: Transition) -> None:
    try:
        expected = _contract_bytes(transition)
    except ValidationError:
        with pytest.raises(ValidationError):
            transition_to_handover_json(transition)
        return
    assert transition_to_handover_json(transition) == expected


def test_non_finite_scores_are_null_in_both() -> None:
    transition = _demo_transitions(400)[0]
    odd = Transition.from_primitive({**_primitive(transition), "score": math.inf,
                                     "scores": {"x": math.nan}})
    assert transition_to_handover_json(odd) == _contract_bytes(odd)
    assert b'"score":null' in transition_to_handover_json(odd)


def _primitive(transition: Transition) -> dict[str, Any]:
    return {name: getattr(transition, name) for name in transition.__dataclass_fields__}
