"""The JSON Schemas a client validates with (schemas/json/): valid documents of their dialect,
with an identifier, and saying what the pydantic models say — here, that a touchpoint names at
least one identity."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from leadstream.schemas.export import DIALECT, SCHEMA_DIR
from tests.factories import wire

ROOT = Path(__file__).parents[2]
SCHEMAS = sorted(SCHEMA_DIR.glob("*.schema.json"))


def _validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(json.loads((SCHEMA_DIR / name).read_text()))


@pytest.mark.parametrize("path", SCHEMAS, ids=lambda p: p.name)
def test_each_schema_is_a_valid_schema_with_dialect_and_id(path: Path) -> None:
    schema = json.loads(path.read_text())
    assert schema["$schema"] == DIALECT
    assert re.fullmatch(r"urn:leadstream:schema:[a-z]+:1", schema["$id"])
    Draft202012Validator.check_schema(schema)


def test_a_touchpoint_must_name_an_identity_in_the_schema_too() -> None:
    touchpoint = _validator("touchpoint.schema.json")
    body = wire("form_submit", event_id="t1", email="ada@example.com")
    assert touchpoint.is_valid(body)
    for name in ("lead_id", "anonymous_id", "crm_id"):
        assert touchpoint.is_valid({**{k: v for k, v in body.items() if k != "email"},
                                    name: "x-1"})
    anonymous = {k: v for k, v in body.items()
                 if k not in ("email", "lead_id", "anonymous_id", "crm_id")}
    assert not touchpoint.is_valid(anonymous)
    assert not touchpoint.is_valid({**anonymous, "email": None})


def test_the_readme_touchpoint_examples_validate_against_the_schema_file() -> None:
    readme = (ROOT / "README.md").read_text()
    touchpoint = _validator("touchpoint.schema.json")
    examples = [json.loads(text) for text in re.findall(r"```json\n(.*?)```", readme, re.S)]
    touchpoints = [e for e in examples if isinstance(e, dict) and "event_id" in e and "type" in e]
    assert touchpoints
    for example in touchpoints:
        errors = [e.message for e in touchpoint.iter_errors(example)]
        assert not errors, (example, errors)


def test_every_example_touchpoint_is_valid_for_the_worker_and_the_schema_file() -> None:
    from leadstream.schemas.touchpoints import parse_touchpoint

    touchpoint = _validator("touchpoint.schema.json")
    lines = [line for path in sorted((ROOT / "examples").glob("*.ndjson"))
             for line in path.read_bytes().splitlines() if line.strip()]
    assert lines
    for line in lines:
        parse_touchpoint(line, max_bytes=65536)  # raises RejectedMessage with the reason
        assert touchpoint.is_valid(json.loads(line)), line
