"""The worker's handover encoder writes exactly the bytes of the pydantic contract model."""

from __future__ import annotations

import dataclasses
import math
from typing import Any
from unittest.mock import patch

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
from leadstream.streams.encoding import mappers
from leadstream.streams.encoding.mappers import (
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


def test_demo_transitions_encode_to_the_contract_bytes_without_pydantic() -> None:
    transitions = _demo_transitions(3_000)
    assert len(transitions) > 50
    expected = [_contract_bytes(t) for t in transitions]
    with patch.object(mappers, "_validated", side_effect=AssertionError("took the pydantic path")):
        assert [transition_to_handover_json(t) for t in transitions] == expected


def _json_values(integers: st.SearchStrategy[int]) -> st.SearchStrategy[Any]:
    leaf = (st.none() | st.booleans() | integers | st.text(max_size=8)
            | st.floats(allow_nan=True, allow_infinity=True))
    return st.recursive(leaf, lambda inner: st.lists(inner, max_size=3)
                        | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=8)


int64 = st.integers(-(2**63), 2**63 - 1)
when = st.floats(min_value=0, max_value=4_102_444_800, allow_nan=False)  # up to 2100
word = st.text(max_size=12)


def _transitions(*, kinds: list[str], grades: list[str], temperatures: list[str],
                 routing_keys: list[str], sequence: st.SearchStrategy[int],
                 number: st.SearchStrategy[Any], integers: st.SearchStrategy[int],
                 ) -> st.SearchStrategy[Transition]:
    return st.builds(
        Transition,
        transition_id=word, lead_id=word, sequence=sequence, kind=st.sampled_from(kinds),
        from_stage=word, to_stage=word, reason=word, occurred_at=when,
        trigger_event_id=word, trigger_type=word, score=number,
        grade=st.sampled_from(grades), fit_points=number, matrix=word,
        temperature=st.sampled_from(temperatures), model_name=word, model_version=word,
        contributors=st.lists(st.tuples(word, number, integers), max_size=3).map(tuple),
        trail=st.lists(st.tuples(word, word, when), max_size=3).map(tuple),
        profile=st.dictionaries(word, _json_values(integers), max_size=4),
        bant=st.dictionaries(word, _json_values(integers), max_size=3),
        routing=st.dictionaries(st.sampled_from(routing_keys), st.none() | word, max_size=4),
        scores=st.dictionaries(word, number, max_size=3),
        detail=st.none() | word,
    )


#: what the contract accepts and orjson writes: the encoder must not need pydantic for any of it
within_contract = _transitions(
    kinds=["stage_transition", "sla_breach"], grades=["A", "B", "C", "D"],
    temperatures=["cold", "warm", "hot"], routing_keys=["team", "owner", "rule", "previous_owner"],
    sequence=st.integers(1, 2**40), number=st.floats() | int64, integers=int64,
)
#: anything, also what the contract rejects (bad grade, unknown routing key, sequence 0) and
#: what orjson cannot write (ints beyond 64 bits)
anything = _transitions(
    kinds=["stage_transition", "sla_breach", "bogus"], grades=["A", "B", "C", "D", "E"],
    temperatures=["cold", "warm", "hot", "tepid"],
    routing_keys=["team", "owner", "rule", "previous_owner", "extra"],
    sequence=st.integers(0, 2**40), number=st.floats() | st.integers(-(2**1100), 2**1100),
    integers=st.integers(-(2**70), 2**70),
)


@settings(max_examples=300, deadline=None)
@given(within_contract)
def test_a_transition_within_the_contract_encodes_to_its_bytes_without_pydantic(
        transition: Transition) -> None:
    expected = _contract_bytes(transition)
    with patch.object(mappers, "_validated", side_effect=AssertionError("took the pydantic path")):
        assert transition_to_handover_json(transition) == expected


@settings(max_examples=300, deadline=None)
@given(anything)
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
    odd = dataclasses.replace(transition, score=math.inf, scores={"x": math.nan})
    assert transition_to_handover_json(odd) == _contract_bytes(odd)
    assert b'"score":null' in transition_to_handover_json(odd)

