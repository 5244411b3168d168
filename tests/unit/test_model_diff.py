"""``leadstream model diff``: what a model change changes, rule by rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from leadstream.cli import main
from leadstream.config.model_loader import DEFAULT_MODEL_PATH, load_model
from leadstream.core.model import ScoringModel
from leadstream.core.model_diff import diff_models, render

EXAMPLE = Path(DEFAULT_MODEL_PATH).parent / "examples" / "stricter-mql.yaml"


def _changed(model: ScoringModel, **update: object) -> ScoringModel:
    data = model.model_dump(mode="json")
    for path, value in update.items():
        *parents, last = path.split("__")
        node = data
        for part in parents:
            node = node[part]
        node[last] = value
    return ScoringModel.model_validate(data)


def test_rules_are_matched_by_id_and_settings_by_path() -> None:
    old = load_model()
    data = old.model_dump(mode="json")
    data["version"] = "2"
    data["rules"] = [r for r in data["rules"] if r["id"] != "email_open"]
    data["rules"].append({"id": "chat_started", "type": "chat", "points": 8})
    for rule in data["rules"]:
        if rule["id"] == "pricing_visit":
            rule["points"], rule["half_life_days"] = 12, 7
    data["lifecycle"]["sla_hours"] = 24
    data["routing"]["rules"] = list(reversed(data["routing"]["rules"][:2])) + \
        data["routing"]["rules"][2:]
    data["sources"]["default"] = "seeds"
    new = ScoringModel.model_validate(data)
    changes = {(c.section, c.kind, c.name): c for c in diff_models(old, new)}
    assert ("behaviour rules", "removed", "email_open") in changes
    assert ("behaviour rules", "added", "chat_started") in changes
    assert changes[("behaviour rules", "changed", "pricing_visit")].fields == (
        ("half_life_days", 14.0, 7.0), ("points", 10.0, 12.0))
    assert changes[("settings", "changed", "lifecycle.sla_hours")].after == 24.0
    assert changes[("settings", "changed", "sources.default")].before == "nets"
    assert ("routing rules", "changed", "(order)") in changes
    text = render(old, new, list(changes.values()))
    assert "+ chat_started: type chat, points 8.0" in text
    assert "~ pricing_visit: half_life_days 14.0 → 7.0; points 10.0 → 12.0" in text


def test_the_same_model_has_no_changes() -> None:
    model = load_model()
    assert diff_models(model, _changed(model, version="9")) == []
    assert "no changes that matter" in render(model, model, [])


def test_the_shipped_candidate_and_the_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["model", "diff", str(DEFAULT_MODEL_PATH), str(EXAMPLE)]) == 0
    out = capsys.readouterr().out
    assert "~ email_open: points 1.0 → 0.5" in out
    assert "~ lifecycle.mql.min_score: 50.0 → 65.0" in out
    assert main(["model", "diff", "--exit-code", str(DEFAULT_MODEL_PATH), str(EXAMPLE)]) == 1
    assert main(["model", "diff", "--exit-code", str(DEFAULT_MODEL_PATH),
                 str(DEFAULT_MODEL_PATH)]) == 0


def test_a_bad_model_file_names_file_and_field(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(EXAMPLE.read_text().replace("min_score: 65", "min_score: lots"))
    assert main(["model", "diff", str(DEFAULT_MODEL_PATH), str(bad)]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "lifecycle.mql.min_score" in err
