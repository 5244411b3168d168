"""The README is a contract: every JSON example in it is a message some schema accepts."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from leadstream.exceptions import RejectedMessage
from leadstream.schemas.commands import parse_command
from leadstream.schemas.dlq import DlqRecord
from leadstream.schemas.feedback import parse_feedback
from leadstream.schemas.nurture import NurtureEvent
from leadstream.schemas.handover import (AccountEngagedEvent, ConsentChangedEvent, ErasedEvent, HandoverEvent,
                                         LeadsMergedEvent)
from leadstream.schemas.touchpoints import parse_touchpoint

README = (Path(__file__).parents[2] / "README.md").read_text()
EXAMPLES = re.findall(r"```json\n(.*?)```", README, re.S)


def _accepted_by(text: str) -> list[str]:
    raw = text.encode()
    accepted = []
    for name, parse in (("touchpoint", parse_touchpoint), ("feedback", parse_feedback),
                        ("command", parse_command)):
        try:
            parse(raw, max_bytes=65536)
            accepted.append(name)
        except RejectedMessage:
            pass
    models: tuple[type[BaseModel], ...] = (HandoverEvent, LeadsMergedEvent, ErasedEvent,
                                          ConsentChangedEvent, AccountEngagedEvent, NurtureEvent,
                                          DlqRecord)
    for model in models:
        try:
            model.model_validate_json(text)
            accepted.append(model.__name__)
        except ValueError:
            pass
    return accepted


def test_the_readme_has_examples() -> None:
    assert len(EXAMPLES) >= 5


@pytest.mark.parametrize("text", EXAMPLES, ids=[e.split(",")[0][:40] for e in EXAMPLES])
def test_every_json_example_validates_against_a_schema(text: str) -> None:
    json.loads(text)
    assert _accepted_by(text), f"no schema accepts this README example:\n{text}"


def test_the_readme_lists_every_types_required_and_optional_payload_fields() -> None:
    from leadstream.core.touchpoint_types import PAYLOAD_FIELDS
    from leadstream.schemas.touchpoints import TOUCHPOINT_MODELS

    text = README
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`") and cells[0].strip("`") in TOUCHPOINT_MODELS:
            rows[cells[0].strip("`")] = (cells[1], cells[2])
    assert set(rows) == set(TOUCHPOINT_MODELS)
    for type_, model in TOUCHPOINT_MODELS.items():
        payload = model.model_fields["payload"].annotation.model_fields  # type: ignore[union-attr]
        named = {cell: {w.strip("`,") for w in text_.split() if w.startswith("`")}
                 for cell, text_ in zip(("required", "optional"), rows[type_])}
        required = {n for n, f in payload.items() if f.is_required()}
        optional = set(payload) - required
        # enumerated values are listed in parentheses after their field
        assert required <= named["required"] and optional <= named["optional"], type_
        assert not (named["required"] - required) & set(payload), type_
        assert set(payload) == PAYLOAD_FIELDS[type_], type_  # the core's copy for model checks


def test_the_cores_profile_fields_are_the_schemas() -> None:
    from leadstream.core.touchpoint_types import PROFILE_FIELDS
    from leadstream.schemas.touchpoints import Profile

    assert PROFILE_FIELDS == set(Profile.model_fields) | {"email_domain"}


def test_the_cores_closed_payload_values_are_the_schemas() -> None:
    from typing import get_args

    from leadstream.core.touchpoint_types import PAYLOAD_VALUES
    from leadstream.schemas.touchpoints import TOUCHPOINT_MODELS

    for (type_, field), values in PAYLOAD_VALUES.items():
        payload = TOUCHPOINT_MODELS[type_].model_fields["payload"].annotation
        annotation = payload.model_fields[field].annotation  # type: ignore[union-attr]
        assert set(get_args(annotation)) == values, (type_, field)
