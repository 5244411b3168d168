"""Operator commands (parse → core message) and the ingest hygiene filter."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from leadstream.config.settings import HygieneSettings, load_settings
from leadstream.core.identity import email_lead_id
from leadstream.core.messages import Erase, MergeRequest
from leadstream.exceptions import ConfigError, InvalidCommand, InvalidTouchpoint
from leadstream.schemas.commands import parse_command
from leadstream.schemas.touchpoints import parse_touchpoint
from leadstream.streams.services.hygiene import TrafficFilter
from leadstream.streams.encoding.mappers import command_to_core
from tests.factories import T0, wire

AT = "2026-11-20T10:00:00Z"


def _command(**fields: Any) -> MergeRequest | Erase:
    return command_to_core(parse_command(json.dumps(fields).encode(), max_bytes=4096))


def test_merge_command_becomes_a_request_to_the_first_lead() -> None:
    message = _command(command="merge", command_id="c1", issued_at=AT, lead_ids=["A", "B"], survivor="B")
    assert message == MergeRequest(merge_id="c1", lead_id="A", other="B", survivor="B",
                                   at=datetime(2026, 11, 20, 10, tzinfo=UTC).timestamp())


def test_erase_by_email_maps_to_the_canonical_id() -> None:
    message = _command(command="erase", command_id="g1", issued_at=AT, email=" Jane@Example.com")
    assert isinstance(message, Erase) and message.lead_id == email_lead_id("jane@example.com")
    assert message.cascade


@pytest.mark.parametrize(
    ("fields", "kind", "says"),
    [
        ({"command": "override_stage"}, "unknown_command", "merge, erase"),
        ({"command": "merge", "lead_ids": ["A", "A"]}, "invalid_field", "two different leads"),
        ({"command": "merge", "lead_ids": ["A", "B"], "survivor": "C"}, "invalid_field", "one of lead_ids"),
        ({"command": "merge", "lead_ids": ["A"]}, "invalid_field", "lead_ids"),
        ({"command": "erase", "email": "a@b.example", "crm_id": "7"}, "invalid_field", "exactly one"),
        ({"command": "erase"}, "invalid_field", "exactly one"),
        ({"command": "erase", "lead_id": "A", "issued_at": "2030-01-01T00:00:00Z"}, "implausible_time", "future"),
    ],
)
def test_bad_commands_are_rejected_with_a_reason(fields: dict[str, Any], kind: str, says: str) -> None:
    body = {"command_id": "c1", "issued_at": AT, **fields}
    with pytest.raises(InvalidCommand) as caught:
        parse_command(json.dumps(body).encode(), max_bytes=4096)
    assert caught.value.kind == kind and says in caught.value.reason


def _check(filter_: TrafficFilter, **fields: Any) -> None:
    filter_.check(parse_touchpoint(json.dumps(wire("web_visit", **fields)).encode(), max_bytes=4096))


def test_hygiene_filter() -> None:
    settings = HygieneSettings(internal_email_domains=["Acme.example"], internal_ip_ranges=["10.0.0.0/8"])
    clock = (T0 + timedelta(hours=1)).timestamp()
    traffic = TrafficFilter(settings, clock=lambda: clock)
    _check(traffic, email="ann@customer.example", user_agent="Mozilla/5.0 Chrome/131", ip="192.0.2.1")
    cases = [
        ({"user_agent": "Mozilla/5.0 (compatible; bingbot/2.0)"}, "bot_traffic"),
        ({"email": "ann@acme.example"}, "internal_traffic"),
        ({"ip": "10.20.30.40"}, "internal_traffic"),
        ({"at": timedelta(hours=1, minutes=6)}, "future_event"),
    ]
    for fields, kind in cases:
        with pytest.raises(InvalidTouchpoint) as caught:
            _check(traffic, **fields)
        assert caught.value.kind == kind
        assert "acme" not in caught.value.reason.lower()  # the reason names the rule, not the person
    _check(traffic, at=timedelta(hours=1, minutes=4))  # within max_future_s


def test_a_bad_ip_range_stops_the_worker_with_the_field() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={"LEADSTREAM__HYGIENE__INTERNAL_IP_RANGES": "[10.0.0.0/33]"})
    assert "hygiene.internal_ip_ranges" in str(caught.value)
