"""How ``POST /touchpoints`` splits a body into records (streams/ops/http_ingest.py)."""

from __future__ import annotations

import pytest

from leadstream.streams.ops.http_ingest import BodyError, split_body


def test_ndjson_lines_are_kept_as_sent_and_a_line_may_be_an_array() -> None:
    body = b'{"a": 1}\n\n[1, 2]\r\n  {"b":2}  \n'
    assert split_body(body, "application/x-ndjson") == [b'{"a": 1}', b"[1, 2]\r", b'  {"b":2}  ']
    assert split_body(body, "") == split_body(body, "text/plain")


def test_a_json_array_is_split_into_its_elements() -> None:
    assert split_body(b'[{"a": 1}, {"b": [2]}]', "application/json; charset=utf-8") == \
        [b'{"a":1}', b'{"b":[2]}']
    for bad in (b"[{", b'{"a": 1}'):
        with pytest.raises(BodyError):
            split_body(bad, "application/json")
