"""Every way a record can be bad maps to a bounded kind and a readable reason."""

from __future__ import annotations

import json

import pytest

from leadstream.core.touchpoint_types import TOUCHPOINT_TYPES
from leadstream.exceptions import InvalidTouchpoint
from leadstream.schemas import TOUCHPOINT_MODELS, parse_touchpoint
from leadstream.streams.encoding.mappers import touchpoint_to_core
from tests.factories import wire

LIMIT = 65536


def _parse(raw: bytes):  # type: ignore[no-untyped-def]
    return parse_touchpoint(raw, max_bytes=LIMIT)


def test_schema_types_and_core_types_are_the_same_set() -> None:
    assert set(TOUCHPOINT_MODELS) == TOUCHPOINT_TYPES


@pytest.mark.parametrize("kind", sorted(TOUCHPOINT_TYPES))
def test_every_type_parses_and_maps_to_the_core(kind: str) -> None:
    touchpoint = touchpoint_to_core(_parse(json.dumps(wire(kind, email="Ann@Example.COM ")).encode()))
    assert touchpoint.type == kind
    assert touchpoint.has_contact
    assert touchpoint.lead_id.startswith("em-")
    assert "ann" not in touchpoint.lead_id.lower()


def _bad(**changes: object) -> bytes:
    body = wire("web_visit", email="a@b.example")
    body.update(changes)
    return json.dumps({k: v for k, v in body.items() if v is not ...}).encode()


@pytest.mark.parametrize(
    ("raw", "kind", "words"),
    [
        (b"{not json", "invalid_json", "not valid JSON"),
        (b"\xff\xfe\x00garbage", "invalid_json", "not valid JSON"),
        (b"", "invalid_json", "not valid JSON"),
        (b"[1, 2, 3]", "not_an_object", "JSON object"),
        (b'"just a string"', "not_an_object", "JSON object"),
        (_bad(type=...), "missing_type", "'type' is missing"),
        (_bad(type="carrier_pigeon"), "unknown_type", "unknown touchpoint type"),
        (_bad(email=None), "missing_identity", "no identity"),
        (_bad(email=""), "invalid_field", "field 'email'"),
        (_bad(email="not-an-address"), "invalid_field", "field 'email'"),
        (_bad(occurred_at="2026-11-01T10:00:00"), "invalid_field", "timezone"),
        (_bad(occurred_at="yesterday"), "invalid_field", "field 'occurred_at'"),
        (_bad(event_id=...), "invalid_field", "field 'event_id'"),
        (_bad(event_id=""), "invalid_field", "field 'event_id'"),
        (_bad(event_id=42), "invalid_field", "field 'event_id'"),
        (_bad(payload={"url": 7}), "invalid_field", "field 'payload.url'"),
        (_bad(payload={}), "invalid_field", "field 'payload.url'"),
        (_bad(payload={"url": "/", "duration_s": -1}), "invalid_field", "payload.duration_s"),
        (b'{"type":"web_visit","event_id":"e","occurred_at":"2026-01-01T00:00:00Z",'
         b'"email":"a@b","payload":{"url":"/","duration_s":NaN}}', "invalid_json", "NaN is not a JSON number"),
        (b'{"type":"web_visit","type":"demo_request","event_id":"e","occurred_at":"2026-01-01T00:00:00Z",'
         b'"email":"a@b","payload":{"url":"/"}}', "invalid_json", "duplicate key 'type'"),
        (b"\xef\xbb\xbf" + _bad(), "invalid_json", "BOM"),
    ],
)
def test_bad_records_are_rejected_with_kind_and_reason(raw: bytes, kind: str, words: str) -> None:
    with pytest.raises(InvalidTouchpoint) as caught:
        _parse(raw)
    assert caught.value.kind == kind
    assert words in caught.value.reason


def test_oversize_is_rejected_before_parsing() -> None:
    raw = json.dumps(wire("chat", payload={"summary": "x" * 200})).encode()
    with pytest.raises(InvalidTouchpoint) as caught:
        parse_touchpoint(raw, max_bytes=100)
    assert caught.value.kind == "oversize"
    assert f"{len(raw)} bytes" in caught.value.reason


def test_reason_never_echoes_the_input_value() -> None:
    with pytest.raises(InvalidTouchpoint) as caught:
        _parse(_bad(email="secret.person@@example.com"))
    assert "secret.person" not in caught.value.reason


def test_unknown_fields_are_ignored_for_forward_compatibility() -> None:
    parsed = _parse(_bad(new_field_from_v2={"x": 1}))
    assert parsed.type == "web_visit"


def test_an_event_time_far_in_the_future_says_how_far_in_words() -> None:
    body = {"event_id": "f1", "type": "web_visit", "occurred_at": "2099-01-01T00:00:00Z",
            "anonymous_id": "c", "payload": {"url": "/"}}
    with pytest.raises(InvalidTouchpoint) as rejected:
        parse_touchpoint(json.dumps(body).encode(), max_bytes=65536)
    assert rejected.value.kind == "implausible_time"
    assert "more than one day in the future" in rejected.value.reason
