"""The log a backtest replays: input records in the order they arrived.

A log file is JSON lines (``.jsonl``, or gzip-compressed ``.jsonl.gz``), one input record per
line::

    {"kind": "touchpoints", "topic": "touchpoints", "partition": 3, "offset": 1207,
     "timestamp": 1793563200123, "key_b64": "…", "value_b64": "…"}

``kind`` is the input's role (``touchpoints``, ``feedback``, ``commands``); ``value_b64`` holds
the record's bytes exactly as the producer sent them (a hand-written log may give ``value``, a
JSON object, instead); everything but ``kind`` and the value is optional. ``leadstream export``
writes the input topics this way, oldest first by record timestamp.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

from leadstream.exceptions import LeadstreamError
from leadstream.streams.encoding.inputs import INPUT_KINDS

__all__ = ["LogRecord", "LogError", "read_log", "read_lines", "parse_line", "plan_line", "write_log",
           "record_line"]


class LogError(LeadstreamError):
    """A log file that cannot be read: names the file, the line and why."""


@dataclass(frozen=True, slots=True)
class LogRecord:
    kind: str  # touchpoints | feedback | commands
    value: bytes
    key: bytes | None = None
    timestamp: int | None = None  # the record's Kafka timestamp, ms
    topic: str | None = None
    partition: int | None = None
    offset: int | None = None


def _open(path: Path, mode: str) -> IO[bytes]:
    if path.name.endswith(".gz"):
        return gzip.open(path, mode + "b")  # type: ignore[return-value]
    return open(path, mode + "b")  # noqa: SIM115 - closed by the caller's with


def _kind(data: Any, path: str, number: int) -> str:
    if not isinstance(data, dict):
        raise LogError(f"{path}:{number}: a line must be a JSON object")
    kind = data.get("kind")
    if kind not in INPUT_KINDS:
        raise LogError(f"{path}:{number}: kind must be one of {', '.join(INPUT_KINDS)}, "
                       f"not {kind!r}")
    return kind


def _b64(text: Any) -> bytes:
    """``base64.b64decode(text, validate=True)`` (the same strict decoder) without its copy of
    the text to bytes first."""
    return binascii.a2b_base64(text, strict_mode=True)


def _value(data: dict[str, Any], path: str, number: int) -> bytes:
    if "value_b64" in data:
        try:
            return _b64(data["value_b64"])
        except (ValueError, TypeError):
            raise LogError(f"{path}:{number}: value_b64 is not base64") from None
    if "value" in data:
        return orjson.dumps(data["value"])
    raise LogError(f"{path}:{number}: value_b64 (or value) is required")


def _record(data: Any, path: str, number: int) -> LogRecord:
    kind = _kind(data, path, number)
    value = _value(data, path, number)
    key = data.get("key_b64")
    try:
        key = _b64(key) if key is not None else None
    except (ValueError, TypeError):
        raise LogError(f"{path}:{number}: key_b64 is not base64") from None
    return LogRecord(kind=kind, value=value, key=key,
                     timestamp=data.get("timestamp"), topic=data.get("topic"),
                     partition=data.get("partition"), offset=data.get("offset"))


_CHUNK = 1 << 20


def _split_lines(handle: IO[bytes]) -> Iterator[bytes]:
    """The file's lines without their line break, read a MiB at a time (a gzip file's own
    readline costs more than the replay of a line it skips)."""
    rest = b""
    while chunk := handle.read(_CHUNK):
        lines = (rest + chunk).split(b"\n")
        rest = lines.pop()
        yield from lines
    if rest:
        yield rest


def read_lines(paths: Iterable[Path | str]) -> Iterator[tuple[bytes, str, int]]:
    """Every non-blank line of the files with where it is (file and line number), unparsed."""
    for path in map(Path, paths):
        try:
            handle = _open(path, "r")
        except OSError as exc:
            raise LogError(f"{path}: cannot open: {exc.strerror}") from None
        name = str(path)
        number = 0
        with handle:
            try:
                for number, line in enumerate(_split_lines(handle), start=1):
                    if line.strip():
                        yield line, name, number
            except (EOFError, OSError, zlib.error) as exc:  # a cut-off or corrupt gzip file
                raise LogError(f"{path}: cannot be read after line {number}: {exc}") from None


def parse_line(line: bytes, path: str, number: int) -> LogRecord:
    try:
        data = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise LogError(f"{path}:{number}: not JSON ({exc})") from None
    return _record(data, path, number)


def plan_line(line: bytes, path: str, number: int) -> tuple[str, Any]:
    """What the first pass needs of a line, parsed once: its kind and its value as JSON (``None``
    when the value is not JSON; the replay then rejects it as the worker would). Errors as
    :func:`parse_line` raises them."""
    try:
        data = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise LogError(f"{path}:{number}: not JSON ({exc})") from None
    kind = _kind(data, path, number)
    if "value" in data and "value_b64" not in data:
        return kind, data["value"]
    try:
        return kind, orjson.loads(_value(data, path, number))
    except orjson.JSONDecodeError:
        return kind, None


def read_log(paths: Iterable[Path | str]) -> Iterator[LogRecord]:
    """Every record of the files, file after file, line after line."""
    for line, path, number in read_lines(paths):
        yield parse_line(line, path, number)


def record_line(record: LogRecord) -> bytes:
    data: dict[str, Any] = {"kind": record.kind}
    for name in ("topic", "partition", "offset", "timestamp"):
        value = getattr(record, name)
        if value is not None:
            data[name] = value
    if record.key is not None:
        data["key_b64"] = base64.b64encode(record.key).decode()
    data["value_b64"] = base64.b64encode(record.value).decode()
    return orjson.dumps(data) + b"\n"


def write_log(path: Path | str, records: Iterable[LogRecord]) -> int:
    """Write ``records`` (``.gz``: compressed); return how many."""
    count = 0
    with _open(Path(path), "w") as handle:
        for record in records:
            handle.write(record_line(record))
            count += 1
    return count
