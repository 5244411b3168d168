"""The backtest: logs, the replay against the pure-core reference, the split by person, the
comparison and the command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from leadstream.backtest.compare import compare
from leadstream.backtest.generate import generate_log
from leadstream.backtest.partition import replay_log
from leadstream.backtest.records import LogError, LogRecord, read_log, write_log
from leadstream.backtest.replay import LeadSummary, ModelOutcome, Replay
from leadstream.cli import main
from leadstream.config.model_loader import DEFAULT_MODEL_PATH, load_model, load_models
from leadstream.config.settings import HygieneSettings
from leadstream.core.model import ModelSet
from tests.torture import Reference, build_log

MODELS = load_models(DEFAULT_MODEL_PATH, [])
CANDIDATE = Path(DEFAULT_MODEL_PATH).parent / "examples" / "stricter-mql.yaml"
LOG = build_log(touchpoints=1200, people=120, seed=21, models=MODELS)
_KIND = {"touchpoints": "touchpoints", "feedback": "feedback"}


def _records() -> list[LogRecord]:
    return [LogRecord(_KIND[phase.topic], value, key, None, phase.topic, 0, n)
            for phase in LOG.phases for n, (key, value) in enumerate(phase.records)]


def test_a_log_file_round_trips_and_a_bad_line_names_file_and_line(tmp_path: Path) -> None:
    records = _records()[:50]
    for name in ("log.jsonl", "log.jsonl.gz"):
        assert write_log(tmp_path / name, records) == 50
        assert list(read_log([tmp_path / name])) == records
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"kind": "touchpoints", "value": {"a": 1}}\n\n{"kind": "nope", "value": {}}\n')
    with pytest.raises(LogError, match=r"bad.jsonl:3: kind must be one of"):
        list(read_log([bad]))
    bad.write_text("{not json\n")
    with pytest.raises(LogError, match=r"bad.jsonl:1: not JSON"):
        list(read_log([bad]))


def test_without_ticks_the_replay_is_the_pure_core_the_worker_runs() -> None:
    """The crash torture's reference is what an uninterrupted worker computes (test_crash.py)."""
    reference = Reference(MODELS)
    for phase in LOG.phases:
        reference.feed(phase)
    replay = Replay([MODELS], HygieneSettings(), 65536, ticks=False)
    for record in _records():
        replay.feed(record)
    replay.finish()
    states = replay.states[0]
    assert set(states) == set(reference.states)
    assert all(states[lead].to_primitive() == reference.states[lead].to_primitive()
               for lead in states)
    ids = {row[0] for row in replay.transitions(0)}
    assert ids == {tid for tid in reference.transitions if len(tid) == 32} - _consent_ids(reference)
    assert sum(replay.input_rejected.values()) == sum(
        n for kind, n in reference.rejected.items() if not kind.startswith("leads:"))


def _consent_ids(reference: Reference) -> set[str]:
    return {tid for tid, body in reference.transitions.items() if '"consent_changed"' in body}


def test_split_by_person_over_processes_gives_what_one_process_gives(tmp_path: Path) -> None:
    """In ticks, too: each part keeps the log's clock (a part that skipped other people's records
    without their times ticked its leads later than one process does, and differed)."""
    path = tmp_path / "log.jsonl"
    sets = [ModelSet.of(MODELS), ModelSet.of(load_model(CANDIDATE))]
    generate_log(path, sets[0], people=500, touchpoints=5000, days=60)
    one = replay_log([path], sets, HygieneSettings(), 65536, workers=1)
    three = replay_log([path], sets, HygieneSettings(), 65536, workers=3)
    for a, b in zip(one.outcomes, three.outcomes, strict=True):
        assert sorted(a.transitions) == sorted(b.transitions)
        assert a.leads == b.leads
        assert a.rejected == b.rejected
    assert one.verdicts == {lead: verdicts for lead, verdicts in three.verdicts.items()}
    assert one.input_rejected == three.input_rejected and one.applied == three.applied


def _summary(first_mql_at: float | None, stage: str = "mgl") -> LeadSummary:
    return LeadSummary(stage, "B", "B2", 40.0, first_mql_at, (("form_submit", 15.0),))


def test_the_comparison_names_what_changes_and_what_sales_said() -> None:
    base = ModelOutcome("default", "1", [
        ("t1", "a", "stage_transition", "mgl", "mql", "score_threshold", 1_700_000_000.0),
        ("t2", "b", "stage_transition", "mgl", "mql", "hand_raiser", 1_700_100_000.0),
        ("t3", "c", "stage_transition", "mgl", "mql", "score_threshold", 1_700_200_000.0)],
        {"a": _summary(1_700_000_000.0, "sal"), "b": _summary(1_700_100_000.0),
         "c": _summary(1_700_200_000.0), "d": _summary(None)})
    candidate = ModelOutcome("default", "2", [
        ("u1", "a", "stage_transition", "mgl", "mql", "score_threshold", 1_700_050_000.0),
        ("u4", "d", "stage_transition", "mgl", "mql", "score_threshold", 1_700_300_000.0),
        ("u2", "b", "stage_transition", "mgl", "mql", "hand_raiser", 1_700_100_000.0)],
        {"a": _summary(1_700_050_000.0), "b": _summary(1_700_100_000.0), "c": _summary(None),
         "d": _summary(1_700_300_000.0)})
    verdicts = {"a": ["accepted", "qualified", "won"], "b": ["rejected"], "c": ["accepted"]}
    report = compare([base, candidate], verdicts)
    current, stricter = report["models"]
    assert current["mql_leads"] == 3 and current["precision"] == round(2 / 3, 4)
    assert current["mql_outcomes"]["won"] == 1 and current["mql_outcomes"]["rejected"] == 1
    assert stricter["precision"] == 0.5 and stricter["mql_outcomes"]["no verdict"] == 1
    change = report["changes"][0]
    assert change["counts"] == {"earlier": 0, "later": 1, "additional": 1, "never": 1}
    assert change["outcomes"]["never"] == {"accepted": 1}
    assert {e["lead_id"]: e["change"] for e in change["examples"]} == {
        "a": "later", "c": "never", "d": "additional"}


def test_the_command_writes_a_log_backtests_it_and_reports(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "log.jsonl.gz"
    assert main(["traffic", "--out", str(log), "--touchpoints", "3000", "--leads", "300",
                 "--days", "30"]) == 0
    kinds = {record.kind for record in read_log([log])}
    assert kinds == {"touchpoints", "feedback"}  # the simulated sales team answered
    capsys.readouterr()
    report, comparison = tmp_path / "report.html", tmp_path / "report.json"
    assert main(["backtest", "--log", str(log), "--candidate", str(CANDIDATE), "--workers", "2",
                 "--report", str(report), "--json", str(comparison)]) == 0
    out = capsys.readouterr().out
    assert "default 2-stricter against default 1:" in out and "MQL precision" in out
    data = json.loads(comparison.read_text())
    assert data["run"]["records"] == sum(1 for _ in read_log([log]))
    assert [m["model"] for m in data["models"]] == ["default 1", "default 2-stricter"]
    # the stricter guard makes fewer MQLs, never more
    assert data["models"][1]["mql_leads"] <= data["models"][0]["mql_leads"]
    assert data["changes"][0]["counts"]["additional"] == 0
    page = report.read_text()
    assert page.count('<svg class="chart"') >= 5 and "<script>" in page and "http" not in page


def test_a_missing_log_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["backtest", "--log", str(tmp_path / "nope.jsonl")]) == 1
    assert "nope.jsonl: cannot open" in capsys.readouterr().err
    assert main(["backtest"]) == 2
    for bad in ("65", "-1", "two"):
        with pytest.raises(SystemExit) as stop:
            main(["backtest", "--log", str(tmp_path / "nope.jsonl"), "--workers", bad])
        assert stop.value.code == 2
        assert "--workers" in capsys.readouterr().err
