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
