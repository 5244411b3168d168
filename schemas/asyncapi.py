"""The AsyncAPI 3 document (``schemas/asyncapi.yaml``): every topic leadstream reads or writes,
with keys, headers, payloads (the JSON Schema files, generated from the same pydantic models) and
examples. ``leadstream schemas export`` writes it; a test keeps the file equal to this and
validates it against the official AsyncAPI 3.0.0 schema."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from leadstream.config.settings import TopicSettings
from leadstream.schemas.examples import EXAMPLES

__all__ = ["ASYNCAPI_PATH", "asyncapi_document", "render_asyncapi", "write_asyncapi"]

ASYNCAPI_PATH = Path(__file__).parent / "asyncapi.yaml"
_KAFKA_BINDING = "0.5.0"


@dataclass(frozen=True)
class _Message:
    name: str
    title: str
    schema_file: str
    summary: str
    key: str
    headers: str


_ANY_HEADERS = ("none are read; whatever the producer sets is kept byte-exact in a DLQ record "
                "and sent back by leadstream dlq redrive")
_MESSAGES = (
    _Message("touchpoint", "Touchpoint", "touchpoint.schema.json",
             "one touchpoint from marketing automation, a website or an event app",
             "any key (leadstream re-keys by person); keying by the person's id keeps a "
             "person's touchpoints in order, which is cheaper for the worker, not required",
             _ANY_HEADERS),
    _Message("feedback", "CRM verdict", "feedback.schema.json",
             "sales' verdict on a handed-over lead", "the lead id", _ANY_HEADERS),
    _Message("command", "Command", "command.schema.json",
             "merge two known leads, or erase a person", "any key", _ANY_HEADERS),
    _Message("handover", "Handover event", "handover.schema.json",
             "what changed: stage transitions, SLA breaches and updates, merges, erasures, "
             "consent changes, engaged accounts; tell them apart by kind; upsert by each kind's id",
             "the lead id (leads_merged: the survivor; account_engaged: the account id)",
             "none set"),
    _Message("shadow", "Shadow handover event", "handover.schema.json",
             "a shadow model's would-be transition: the handover event schema, never to the CRM",
             "the lead id", "none set"),
    _Message("nurture", "Nurture signal", "nurture.schema.json",
             "a lead to (re-)enrol in a nurture track", "the lead id", "none set"),
    _Message("dlq", "DLQ record", "dlq.schema.json",
             "a rejected input record with its original bytes and the reason",
             "the rejected record's own key", "none set (the original ones are inside)"),
)

#: channel id → (TopicSettings field, what it is, message names, leadstream's action)
_CHANNELS: dict[str, tuple[str, str, tuple[str, ...], str]] = {
    "touchpoints": ("touchpoints", "raw touchpoints in (topics.touchpoints: one or more)",
                    ("touchpoint",), "receive"),
    "leadFeedback": ("feedback", "CRM verdicts in", ("feedback",), "receive"),
    "leadCommands": ("commands", "identity commands in", ("command",), "receive"),
    "leadHandover": ("handover", "what changed, for CRM connectors", ("handover",), "send"),
    "leadHandoverShadow": ("shadow", "shadow models' transitions (only with "
                           "shadow_model_paths)", ("shadow",), "send"),
    "leadNurture": ("nurture", "nurture signals for marketing automation", ("nurture",), "send"),
    "dlq": ("dlq", "every rejected input record", ("dlq",), "send"),
}


def _message(message: _Message, json_dir: str) -> dict[str, Any]:
    return {
        "name": message.name,
        "title": message.title,
        "summary": message.summary,
        "contentType": "application/json",
        "headers": {"type": "object", "description": f"Kafka record headers: {message.headers}",
                    "additionalProperties": {"type": "string"}},
        "payload": {"$ref": f"{json_dir}{message.schema_file}"},
        "bindings": {"kafka": {"key": {"type": "string", "description": message.key},
                               "bindingVersion": _KAFKA_BINDING}},
        # an example has no place for the Kafka key (extensions are not allowed there): the
        # summary names it
        "examples": [{"name": f"{message.name}-{i}",
                      "summary": f"{summary} (key: {'any' if key is None else key})",
                      "headers": {}, "payload": payload}
                     for i, (summary, key, payload) in enumerate(EXAMPLES[message.name], 1)],
    }


def asyncapi_document(version: str, json_dir: str = "./json/") -> dict[str, Any]:
    """The document; ``json_dir`` is where the JSON Schema files are, relative to it."""
    topics = TopicSettings()
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for channel_id, (field, what, names, action) in _CHANNELS.items():
        address = getattr(topics, field)
        address = address[0] if isinstance(address, list) else address
        channels[channel_id] = {
            "address": address,
            "description": f"{what}; default name `{address}` (settings `topics.{field}`)",
            "messages": {name: {"$ref": f"#/components/messages/{name}"} for name in names},
            "bindings": {"kafka": {"topic": address, "partitions": topics.partitions,
                                   "bindingVersion": _KAFKA_BINDING}},
        }
        verb = "receive" if action == "receive" else "send"
        operations[f"{verb}{channel_id[0].upper()}{channel_id[1:]}"] = {
            "action": action,
            "channel": {"$ref": f"#/channels/{channel_id}"},
            "summary": ("leadstream reads " if action == "receive" else "leadstream writes ")
                       + what,
            "messages": [{"$ref": f"#/channels/{channel_id}/messages/{name}"} for name in names],
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "leadstream",
            "version": version,
            "description": "Kafka-native lead processing: touchpoints in; scored, staged and "
            "routed leads out. Payloads are JSON; their schemas are the JSON Schema files "
            "(draft 2020-12) beside this document. A record's Kafka key is in each message's "
            "kafka binding; examples name it as x-key.",
            "license": {"name": "Apache-2.0"},
        },
        "defaultContentType": "application/json",
        "servers": {
            "kafka": {"host": "localhost:9092", "protocol": "kafka",
                      "description": "the Kafka cluster (settings kafka.bootstrap_servers; "
                      "TLS and SASL per kafka.security_protocol)"},
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": {m.name: _message(m, json_dir) for m in _MESSAGES}},
    }


def render_asyncapi(version: str, json_dir: str = "./json/") -> str:
    header = ("# Generated by `leadstream schemas export` from schemas/asyncapi.py and the pydantic\n"
              "# models; do not edit (tests/unit/test_asyncapi.py fails when it drifts).\n")
    return header + yaml.safe_dump(asyncapi_document(version, json_dir), sort_keys=False,
                                   allow_unicode=True, width=100)


def write_asyncapi(version: str, path: Path = ASYNCAPI_PATH, json_dir: str = "./json/") -> Path:
    path.write_text(render_asyncapi(version, json_dir), encoding="utf-8")
    return path
