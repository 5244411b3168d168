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
from leadstream.schemas.handover import ErasedEvent, HandoverEvent, LeadsMergedEvent
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
    models: tuple[type[BaseModel], ...] = (HandoverEvent, LeadsMergedEvent, ErasedEvent, DlqRecord)
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
