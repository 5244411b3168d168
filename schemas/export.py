"""Generate the JSON Schemas in ``schemas/json/`` from the pydantic models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from leadstream.schemas.dlq import DlqRecord
from leadstream.schemas.feedback import FeedbackIn
from leadstream.schemas.commands import CommandIn
from leadstream.schemas.handover import HandoverRecord
from leadstream.schemas.nurture import NurtureEvent
from leadstream.schemas.touchpoints import TouchpointIn

__all__ = ["json_schemas", "write_json_schemas", "SCHEMA_DIR"]

SCHEMA_DIR = Path(__file__).parent / "json"


#: the dialect pydantic generates
DIALECT = "https://json-schema.org/draft/2020-12/schema"


def json_schemas() -> dict[str, dict[str, Any]]:
    """File name → JSON Schema of every message leadstream reads or writes, with its dialect
    (``$schema``) and a stable identifier (``$id``, a URN: nothing to fetch)."""
    schemas = {
        "touchpoint.schema.json": TypeAdapter(TouchpointIn).json_schema(),
        "feedback.schema.json": FeedbackIn.model_json_schema(),
        "handover.schema.json": TypeAdapter(HandoverRecord).json_schema(),
        "command.schema.json": TypeAdapter(CommandIn).json_schema(),
        "dlq.schema.json": DlqRecord.model_json_schema(),
        "nurture.schema.json": NurtureEvent.model_json_schema(),
    }
    return {name: {"$schema": DIALECT, "$id": f"urn:leadstream:schema:{name.split('.')[0]}:1",
                   **schema} for name, schema in schemas.items()}


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_json_schemas(directory: Path = SCHEMA_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in json_schemas().items():
        path = directory / name
        path.write_text(render(schema), encoding="utf-8")
        written.append(path)
    return written
