"""Strict JSON: jiter decodes, the standard library's strict decoder is the reference it must match."""

from __future__ import annotations

import json
import re
from typing import Any

import jiter
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadstream.schemas.strict_json import StrictJsonError, _diagnose, loads_strict

_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=20,
)
# bytes that break JSON in the ways producers do: quotes, escapes, surrogates, constants, control
# characters, bad UTF-8, a byte order mark, an overflowing number
_PIECES = [b'"', b",", b":", b"{", b"}", b"[", b"]", b"\\", b"\\ud800", b"\\udc00", b"\\u00e9",
           b"NaN", b"Infinity", b"-", b"0", b"e", b".", b" ", b"\x00", b"\x1f", b"\xff", b"\xc3",
           b"\xef\xbb\xbf", b"1e999", b"true", b"nul"]
# one escape: a backslash and the character after it, or \uXXXX (read left to right, so the second
# backslash of an escaped one never starts an escape)
_ESCAPE = re.compile(rb"\\(?:u([0-9a-fA-F]{4})|.)", re.DOTALL)


def _unpaired_surrogate(raw: bytes) -> bool:
    """Whether the text escapes a high surrogate without a low one right after it, or a low one
    without a high one right before it."""
    high_ends_at = None  # where a high surrogate's escape ended, while its low half is due
    for escape in _ESCAPE.finditer(raw):
        code = int(escape.group(1), 16) if escape.group(1) else None
        low = code is not None and 0xDC00 <= code <= 0xDFFF
        if high_ends_at is not None:
            if not (low and escape.start() == high_ends_at):
                return True
            high_ends_at = None
        elif low:
            return True
        elif code is not None and 0xD800 <= code <= 0xDBFF:
            high_ends_at = escape.end()
    return high_ends_at is not None


@pytest.mark.parametrize(
    ("raw", "unpaired"),
    [
        (rb'"\ud800\udc00"', False),
        (rb'"\ud800"', True),
        (rb'"\udc00"', True),
        (rb'"\ud800x\udc00"', True),
        (rb'"\ud800\ud800\udc00"', True),
        (rb'"\\ud800\udc00"', True),  # an escaped backslash, then a lone low half
        (rb'"\\\ud800\udc00"', False),  # an escaped backslash, then a pair
        (rb'"\\ud800"', False),  # no escape at all
        (rb'"\u00e9\n"', False),
    ],
)
def test_unpaired_surrogate_reads_escapes_left_to_right(raw: bytes, unpaired: bool) -> None:
    assert _unpaired_surrogate(raw) is unpaired


@st.composite
def _records(draw: st.DrawFn) -> bytes:
    """A JSON text, maybe with a few pieces inserted, deleted or overwritten."""
    raw = bytearray(json.dumps(draw(_VALUES), ensure_ascii=draw(st.booleans())).encode())
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(raw)))
        piece = draw(st.sampled_from(_PIECES))
        how = draw(st.sampled_from(["insert", "delete", "overwrite"]))
        if how == "insert":
            raw[at:at] = piece
        elif how == "delete":
            del raw[at:at + 1]
        else:
            raw[at:at + len(piece)] = piece
    return bytes(raw)


def _reference(raw: bytes) -> tuple[bool, Any]:
    """The standard library's strict decoding (the decoder before jiter): (accepted, value)."""
    try:
        _diagnose(raw)
    except StrictJsonError:
        return False, None
    return True, json.loads(raw)


@settings(max_examples=1500, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(_records())
def test_accepts_what_the_reference_accepts_with_the_same_value(raw: bytes) -> None:
    accepted, expected = _reference(raw)
    try:
        value = loads_strict(raw)
    except StrictJsonError:
        # stricter only where JSON text cannot be UTF-8: an escaped half of a surrogate pair
        assert not accepted or _unpaired_surrogate(raw)
        return
    assert accepted
    # through json.dumps: equal floats, ints and nesting, and -0.0 == 0.0 is not enough
    assert json.dumps(value) == json.dumps(expected)


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (b'{"a": NaN}', "NaN is not a JSON number"),
        (b'{"a": -Infinity}', "-Infinity is not a JSON number"),
        (b'{"a": 1, "a": 2}', "duplicate key 'a'"),
        (b'{"a": {"b": 1, "b": 1}}', "duplicate key 'b'"),
        (b'\xef\xbb\xbf{"a": 1}', "BOM"),
        (b'{"a": "\xff"}', "not UTF-8 (byte 7)"),
        (b'{"a": 1', "Expecting ',' delimiter"),
        (b"", "Expecting value at line 1 column 1"),
        (b'{"a": 1} x', "Extra data"),
    ],
)
def test_the_reason_is_the_standard_librarys(raw: bytes, words: str) -> None:
    with pytest.raises(StrictJsonError) as caught:
        loads_strict(raw)
    assert words in str(caught.value)


@pytest.mark.parametrize("raw", [b'{"a": "\\ud800"}', b'["x\\udc00y"]'])
def test_an_unpaired_surrogate_escape_is_rejected(raw: bytes) -> None:
    json.loads(raw)  # the standard library takes it: the reason is jiter's
    with pytest.raises(StrictJsonError, match="surrogate|hex escape"):
        loads_strict(raw)


@pytest.mark.parametrize("raw", [
    b'{"' + b"k" * 10_000 + b'": 1, "' + b"k" * 10_000 + b'": 2}',  # the reason names the key
    b'{"' + b"k" * 10_000 + b'\\ud800": 1}',  # jiter's reason
])
def test_the_reason_is_bounded(raw: bytes) -> None:
    with pytest.raises(StrictJsonError) as caught:
        loads_strict(raw)
    assert len(str(caught.value)) <= 200


def test_string_values_stay_out_of_the_parsers_cache() -> None:
    """jiter keeps the strings it caches for the life of the process: keys repeat and may stay,
    values (emails, names) must not."""
    jiter.cache_clear()
    loads_strict(b'{"email": null}')
    keys_only = jiter.cache_usage()
    jiter.cache_clear()
    loads_strict(b'{"email": "ida.berg@nordlicht.example"}')
    assert jiter.cache_usage() == keys_only
