"""Strict JSON decoding for input records: what RFC 8259 allows, and no ambiguity.

By default, Python's and pydantic's parsers accept ``NaN``/``Infinity`` and silently keep the last
of two duplicate keys; a record like ``{"type": "web_visit", "type": "demo_request"}`` means different
things to different consumers, so it is rejected instead of guessed at.

jiter (pydantic's JSON parser, in Rust) decodes every record: it rejects duplicate keys and
``NaN``/``Infinity`` itself, faster than the standard library's decoder with a pairs hook
(benchmarks/offline_path.py). A rejected record is decoded again by the standard library, only for
a clearer reason ("NaN is not a JSON number" rather than "expected value"); where that one accepts
what jiter did not (an unpaired surrogate escape such as ``"\\ud800"``, which no UTF-8 text can
hold), jiter's reason stands.
"""

from __future__ import annotations

import json
from typing import Any

import jiter

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


_DECODER = json.JSONDecoder(parse_constant=_no_constants, object_pairs_hook=_unique_keys)
_MAX_REASON = 200


def loads_strict(raw: bytes) -> Any:
    try:
        # cache_mode "keys": jiter's default also keeps string values (emails, names) in a
        # process-wide cache; caching keys alone costs about the same (offline_path.py)
        return jiter.from_json(raw, allow_inf_nan=False, catch_duplicate_keys=True,
                               cache_mode="keys")
    except ValueError as exc:
        reason = str(exc)
    _diagnose(raw)
    raise StrictJsonError(reason[:_MAX_REASON])


def _diagnose(raw: bytes) -> None:
    """Raise the standard library's reason for rejecting ``raw``, if it has one."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise StrictJsonError(f"not UTF-8 (byte {exc.start})") from None
    if text.startswith("\ufeff"):  # what json.loads rejects before it decodes
        raise StrictJsonError("Unexpected UTF-8 BOM at line 1 column 1")
    try:
        _DECODER.decode(text)
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
