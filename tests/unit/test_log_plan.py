"""The backtest's first pass (backtest/partition.py): made in several processes, the plan is the
one a single process makes, and both are what a plain reading of the log gives: every id of one
person (joined by a visitor's contact or a merge, in any order) in one part, and per record the
latest event time named so far."""

from __future__ import annotations

import json
import math
import random
import zlib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from leadstream.backtest.partition import LogPlan, identities
from leadstream.backtest.records import LogError, plan_line, read_lines

START = datetime(2026, 9, 1, tzinfo=UTC).timestamp()


def _line(kind: str, value: object) -> str:
    return json.dumps({"kind": kind, "value": value})


def _random_log(path: Path, seed: int, records: int = 400) -> None:
    rng = random.Random(seed)
    people = [f"p{n}" for n in range(40)]
    lines = []
    for _ in range(records):
        person = rng.choice(people)
        at = datetime.fromtimestamp(START + rng.randrange(0, 86400 * 30), UTC).isoformat()
        roll = rng.random()
        if roll < 0.08:  # a merge of two or three people's ids
            ids = [f"lead-{p}" for p in rng.sample(people, rng.randint(2, 3))]
            lines.append(_line("commands", {"command": "merge", "lead_ids": ids, "issued_at": at}))
        elif roll < 0.15:
            lines.append(_line("feedback", {"lead_id": f"lead-{person}", "occurred_at": at}))
        elif roll < 0.2:  # no identity, no time, or no JSON at all
            lines.append(rng.choice([_line("touchpoints", {"type": "web_visit"}),
                                     _line("touchpoints", "not an object"),
                                     json.dumps({"kind": "touchpoints", "value_b64": "bm9wZQ=="})]))
        else:
            value: dict[str, object] = {"type": "web_visit", "occurred_at": at}
            shape = rng.random()
            if shape < 0.4:
                value["anonymous_id"] = f"cookie-{person}-{rng.randint(0, 2)}"
            if shape > 0.3:
                value["lead_id"] = f"lead-{person}"
            lines.append(_line("touchpoints", value))
    path.write_text("\n".join(lines) + "\n")


def _plain_plan(path: Path, parts: int) -> tuple[list[int], list[float]]:
    """The plan as a reader of the log works it out by hand: people as connected ids."""
    records = [plan_line(line, name, number) for line, name, number in read_lines([path])]
    named = [json_time(data) for _, data in records]
    ids = [identities(kind, data) for kind, data in records]
    neighbours: dict[str, set[str]] = {}
    for group in ids:
        for lead in group:
            neighbours.setdefault(lead, set()).update(group)
    person: dict[str, str] = {}
    for start in neighbours:
        if start in person:
            continue
        seen, todo = {start}, [start]
        while todo:
            for other in neighbours[todo.pop()] - seen:
                seen.add(other)
                todo.append(other)
        for lead in seen:
            person[lead] = min(seen)
    part_of = [zlib.crc32(person[group[0]].encode()) % parts if group else 0 for group in ids]
    clocks, clock = [], math.nan
    for at in named:
        if at is not None and (math.isnan(clock) or at > clock):
            clock = at
        clocks.append(clock)
    return part_of, clocks


def json_time(data: object) -> float | None:
    if not isinstance(data, dict):
        return None
    text = data.get("occurred_at") or data.get("issued_at")
    return datetime.fromisoformat(text).timestamp() if isinstance(text, str) else None


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_plan_is_the_plain_reading_of_the_log_in_one_process_or_several(
        tmp_path: Path, seed: int) -> None:
    path = tmp_path / "log.jsonl"
    _random_log(path, seed)
    parts, clocks = _plain_plan(path, 3)
    assert len(set(parts)) == 3  # (the log has people for every part)
    for workers in (1, 2, 3):
        plan = LogPlan.of([path], 3, workers=workers)
        assert list(plan.parts) == parts, workers
        assert [c if not math.isnan(c) else None for c in plan.clocks] == \
            [c if not math.isnan(c) else None for c in clocks], workers


def test_a_person_joined_late_by_a_merge_is_in_one_part_from_the_start(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    lines = [_line("touchpoints", {"lead_id": f"lead-{n}", "type": "web_visit"}) for n in range(60)]
    everyone = [f"lead-{n}" for n in range(60)]
    lines.append(_line("commands", {"command": "merge", "lead_ids": everyone}))
    path.write_text("\n".join(lines))
    for workers in (1, 2):
        plan = LogPlan.of([path], 2, workers=workers)
        assert len(set(plan.parts)) == 1
        assert all(math.isnan(c) for c in plan.clocks)


def test_an_unreadable_line_is_the_first_one_a_single_reader_meets(tmp_path: Path) -> None:
    """Line 4 is in the second process's share, line 7 in the first's: the error names 4."""
    path = tmp_path / "log.jsonl"
    good = _line("touchpoints", {"lead_id": "a", "type": "web_visit"})
    path.write_text("\n".join([good, good, good, "{nope", good, good, '{"kind": "x"}', good]))
    for workers in (1, 2):
        with pytest.raises(LogError, match=rf"{path}:4: not JSON"):
            LogPlan.of([path], 2, workers=workers)


def test_progress_is_told_before_the_first_pass_and_up_to_every_record(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from leadstream.backtest import partition
    from leadstream.config.model_loader import DEFAULT_MODEL_PATH, load_model
    from leadstream.config.settings import HygieneSettings
    from leadstream.core.model import ModelSet

    path = tmp_path / "log.jsonl"
    _random_log(path, 5, records=300)
    calls: list[tuple[int, int]] = []
    result = partition.replay_log([path], [ModelSet.of(load_model(DEFAULT_MODEL_PATH))],
                                  HygieneSettings(), 65536, workers=2,
                                  on_progress=lambda done, total: calls.append((done, total)))
    assert calls[0] == (0, 0) and calls[-1] == (300, 300) and result.records == 300
    assert all(total == 300 and done <= 300 for done, total in calls[1:])

    class Terminal:
        def __init__(self) -> None:
            self.text = ""

        def isatty(self) -> bool:
            return True

        def write(self, text: str) -> None:
            self.text += text

        def flush(self) -> None:
            pass

    terminal = Terminal()
    monkeypatch.setattr(partition.sys, "stderr", terminal)
    for done, total in calls:
        partition.terminal_progress(done, total)
    assert terminal.text.startswith("  reading the log to split it by person\n")
    assert terminal.text.endswith(f"\r  replaying [{'#' * 30}] 300/300 records\n")


def test_a_process_that_fails_fails_the_backtest_with_its_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from leadstream.backtest import partition
    from leadstream.config.model_loader import DEFAULT_MODEL_PATH, load_model
    from leadstream.config.settings import HygieneSettings
    from leadstream.core.model import ModelSet

    path = tmp_path / "log.jsonl"
    _random_log(path, 6, records=50)
    models = [ModelSet.of(load_model(DEFAULT_MODEL_PATH))]

    def boom(*_: object, **__: object) -> None:
        raise ValueError("boom")

    # (the forked processes inherit the patches)
    monkeypatch.setattr(partition.Replay, "feed", boom)
    with pytest.raises(RuntimeError, match="a replay process failed: ValueError: boom"):
        partition.replay_log([path], models, HygieneSettings(), 65536, workers=2)
    monkeypatch.setattr(partition, "identities", boom)
    with pytest.raises(RuntimeError, match="a planning process failed: ValueError: boom"):
        partition.LogPlan.of([path], 2, workers=2)
