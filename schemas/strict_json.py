"""Strict JSON decoding for input records: what RFC 8259 allows, and no ambiguity.

Python's and pydantic's parsers accept ``NaN``/``Infinity`` and silently keep the last of two
duplicate keys; a record like ``{"type": "web_visit", "type": "demo_request"}`` means different
things to different consumers, so it is rejected instead of guessed at.
"""

from __future__ import annotations

import json
from typing import Any

from leadstream.exceptions import RejectedMessage

__all__ = ["StrictJsonError", "loads_strict", "load_record"]


class StrictJsonError(ValueError):
    """The reason a record is not acceptable JSON (human-readable, no record content)."""


def _no_constants(name: str) -> Any:
    raise StrictJsonError(f"{name} is not a JSON number")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) == len(pairs):
        return out
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            raise StrictJsonError(f"duplicate key {key[:50]!r}")
        seen.add(key)
    raise AssertionError("unreachable: fewer keys than pairs means a duplicate")


# one decoder for every record: json.loads with these arguments builds a new decoder and scanner
# per call, a third of the decoding time of a typical touchpoint (5.1 -> 3.4 µs)
_DECODER = json.JSONDecoder(parse_constant=_no_constants, object_pairs_hook=_unique_keys)


def loads_strict(raw: bytes) -> Any:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise StrictJsonError(f"not UTF-8 (byte {exc.start})") from None
    if text.startswith("\ufeff"):  # what json.loads rejects before it decodes
        raise StrictJsonError("Unexpected UTF-8 BOM at line 1 column 1")
    try:
        return _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        raise StrictJsonError(f"{exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise StrictJsonError("nested too deeply") from None


def load_record(raw: bytes, *, max_bytes: int, rejected: type[RejectedMessage]) -> Any:
    """The size check and strict decoding every input record goes through, raising ``rejected``
    with the kinds ``oversize`` and ``invalid_json``."""
    if len(raw) > max_bytes:
        raise rejected("oversize", f"record is {len(raw)} bytes; the limit is {max_bytes} bytes")
    try:
        return loads_strict(raw)
    except StrictJsonError as exc:
        raise rejected("invalid_json", f"not valid JSON: {exc}") from None
