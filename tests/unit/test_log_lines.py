"""backtest/records.py reads a log a chunk at a time: lines across chunk boundaries, blank
lines, CRLF and a last line without a line break come out as a line-by-line reader gives them,
with the right line numbers."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from leadstream.backtest import records
from leadstream.backtest.records import LogError, parse_line, read_lines

LINE = b'{"kind": "touchpoints", "value": {"event_id": "e%d", "type": "web_visit"}}'


@pytest.mark.parametrize("chunk", [7, 64, 1 << 20])
@pytest.mark.parametrize("gz", [False, True])
def test_chunked_lines_are_the_file_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          chunk: int, gz: bool) -> None:
    monkeypatch.setattr(records, "_CHUNK", chunk)
    body = (LINE % 1 + b"\n\n" + LINE % 2 + b"\r\n   \n" + LINE % 3)  # no final line break
    path = tmp_path / ("log.jsonl.gz" if gz else "log.jsonl")
    path.write_bytes(gzip.compress(body) if gz else body)
    got = list(read_lines([path]))
    assert [(number, line.strip()) for line, _, number in got] == \
        [(1, LINE % 1), (3, LINE % 2), (5, LINE % 3)]
    assert [parse_line(line, name, number).value for line, name, number in got] == \
        [b'{"event_id":"e%d","type":"web_visit"}' % i for i in (1, 2, 3)]


def test_a_bad_line_is_named_by_file_and_number(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    path.write_bytes(LINE % 1 + b"\n{nope\n")
    with pytest.raises(LogError, match=rf"{path}:2: not JSON"):
        for line, name, number in read_lines([path]):
            parse_line(line, name, number)


def test_a_cut_off_gzip_log_is_named_with_the_last_line_read(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl.gz"
    whole = gzip.compress(b"".join(LINE % n + b"\n" for n in range(2000)))
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(LogError, match=rf"{path}: cannot be read after line \d+: "):
        for line, name, number in read_lines([path]):
            parse_line(line, name, number)


def test_values_and_keys_are_strict_base64(tmp_path: Path) -> None:
    """Values and keys are strict base64 (what b64decode(validate=True) accepts), and a line
    that has none is named."""
    path = tmp_path / "log.jsonl"
    path.write_text('{"kind": "touchpoints", "value_b64": "eyJhIjoxfQ==", "key_b64": "aw=="}\n'
                    '{"kind": "touchpoints", "value_b64": "eyJhIjoxfQ===", "key_b64": "a"}\n'
                    '{"kind": "touchpoints", "value_b64": "eyJhIjo*fQ=="}\n'
                    '{"kind": "touchpoints", "value_b64": "eyJhIjoxfQ==", "key_b64": "a*"}\n'
                    '{"kind": "touchpoints", "value_b64": "=="}\n')
    lines = list(read_lines([path]))
    record = parse_line(*lines[0])
    assert (record.value, record.key) == (b'{"a":1}', b"k")
    with pytest.raises(LogError, match=rf"{path}:2: value_b64 is not base64"):
        parse_line(*lines[1])
    with pytest.raises(LogError, match=rf"{path}:3: value_b64 is not base64"):
        parse_line(*lines[2])
    with pytest.raises(LogError, match=rf"{path}:4: key_b64 is not base64"):
        parse_line(*lines[3])
    with pytest.raises(LogError, match=rf"{path}:5: value_b64 is not base64"):
        parse_line(*lines[4])
