"""schemas/asyncapi.yaml: generated from the code (no drift), valid against the official AsyncAPI
3.0.0 JSON Schema (vendored from the npm package @asyncapi/specs, tests/vendor/asyncapi), every
topic covered, every payload a JSON Schema file, every example valid against it and accepted by
the worker; and every JSON example in the README validates against its schema file."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator, Draft202012Validator

from leadstream import __version__
from leadstream.config.settings import TopicSettings
from leadstream.schemas.asyncapi import ASYNCAPI_PATH, render_asyncapi
from leadstream.schemas.commands import parse_command
from leadstream.schemas.export import SCHEMA_DIR
from leadstream.schemas.feedback import parse_feedback
from leadstream.schemas.touchpoints import parse_touchpoint

ROOT = Path(__file__).parents[2]
SPEC = json.loads((ROOT / "tests" / "vendor" / "asyncapi" / "asyncapi-3.0.0.schema.json").read_text())
DOCUMENT: dict[str, Any] = yaml.safe_load(ASYNCAPI_PATH.read_text())
PARSERS = {"touchpoint": parse_touchpoint, "feedback": parse_feedback, "command": parse_command}


def _schema(ref: str) -> Draft202012Validator:
    return Draft202012Validator(json.loads((ASYNCAPI_PATH.parent / ref).read_text()))


def test_the_file_is_what_the_code_generates() -> None:
    assert ASYNCAPI_PATH.read_text() == render_asyncapi(__version__), \
        "run: leadstream schemas export"


def test_it_is_a_valid_asyncapi_3_document() -> None:
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
              for e in Draft7Validator(SPEC).iter_errors(DOCUMENT)]
    assert not errors, errors[:5]


def test_the_validator_would_notice_a_broken_document() -> None:
    broken = copy.deepcopy(DOCUMENT)
    del broken["operations"]["receiveTouchpoints"]["action"]
    broken["channels"]["touchpoints"]["bindings"]["kafka"]["partitions"] = "eight"
    assert len(list(Draft7Validator(SPEC).iter_errors(broken))) >= 2


def test_every_topic_leadstream_uses_is_a_channel() -> None:
    topics = TopicSettings()
    names = {topics.touchpoints[0], topics.feedback, topics.commands, topics.handover,
             topics.nurture, topics.dlq, topics.shadow}
    assert {c["address"] for c in DOCUMENT["channels"].values()} == names
    for channel in DOCUMENT["channels"].values():
        assert channel["bindings"]["kafka"]["partitions"] == topics.partitions


@pytest.mark.parametrize("name", sorted(DOCUMENT["components"]["messages"]))
def test_every_example_validates_and_the_worker_takes_it(name: str) -> None:
    message = DOCUMENT["components"]["messages"][name]
    assert message["bindings"]["kafka"]["key"]["description"]
    ref = message["payload"]["$ref"]
    assert (ASYNCAPI_PATH.parent / ref).resolve().parent == SCHEMA_DIR.resolve()
    validator = _schema(ref)
    assert message["examples"]
    for example in message["examples"]:
        errors = [e.message for e in validator.iter_errors(example["payload"])]
        assert not errors, (example["name"], errors)
        if name in PARSERS:
            PARSERS[name](json.dumps(example["payload"]).encode(), max_bytes=65536)


def _schema_for(example: dict[str, Any]) -> str:
    if "command" in example:
        return "command.schema.json"
    if "verdict" in example:
        return "feedback.schema.json"
    if example.get("kind") == "nurture_signal":
        return "nurture.schema.json"
    if "kind" in example:
        return "handover.schema.json"
    return "touchpoint.schema.json"


def test_every_json_example_in_the_readmes_validates_against_its_schema() -> None:
    checked = 0
    for readme in (ROOT / "README.md", ROOT / "examples" / "README.md"):
        for text in re.findall(r"```json\n(.*?)```", readme.read_text(), re.S):
            example = json.loads(text)
            errors = [e.message for e in _schema(f"json/{_schema_for(example)}").iter_errors(example)]
            assert not errors, (readme.name, text[:80], errors)
            checked += 1
    assert checked >= 9


def test_schemas_export_to_a_folder_writes_a_document_whose_refs_resolve_there(tmp_path: Path) -> None:
    from leadstream.cli import main

    assert main(["schemas", "export", str(tmp_path)]) == 0
    document = yaml.safe_load((tmp_path / "asyncapi.yaml").read_text())
    refs = {m["payload"]["$ref"] for m in document["components"]["messages"].values()}
    assert refs and all((tmp_path / ref).is_file() for ref in refs)
