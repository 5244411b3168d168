"""Settings and model files: bad config fails with file, line, field and why."""

from __future__ import annotations

from pathlib import Path

import pytest

from leadstream.cli import main
from leadstream.config import DEFAULT_MODEL_PATH, load_model, load_settings
from leadstream.exceptions import ConfigError, ModelError


def test_defaults_without_a_file(tmp_path: Path) -> None:
    settings = load_settings(environ={})
    assert settings.kafka.bootstrap_servers == "localhost:9092"
    assert settings.kafka.flavour == "kafka"
    assert settings.kafka.effective_session_timeout() == 60.0
    assert settings.topics.partitions == 8


def test_tansu_flavour_gets_the_short_timeouts() -> None:
    kafka = load_settings(environ={"LEADSTREAM__KAFKA__FLAVOUR": "tansu"}).kafka
    assert (kafka.effective_session_timeout(), kafka.effective_heartbeat_interval(),
            kafka.effective_rebalance_timeout(), kafka.effective_fetch_max_wait_ms()) == (6, 1, 10, 100)


def test_fetch_size_reaches_the_faust_consumer() -> None:
    """Faust's consumer fetches at most ``consumer_max_fetch_size`` per partition (Faust's 1 MiB
    unless told; ours 4 MiB); the setting must get there, and a nonsense size stops the worker at
    start."""
    from leadstream.streams.app import faust_settings

    default = load_settings(environ={})
    assert faust_settings(default)["consumer_max_fetch_size"] == 4 * 1024 * 1024
    small = load_settings(environ={"LEADSTREAM__KAFKA__MAX_PARTITION_FETCH_BYTES": "1048576"})
    assert faust_settings(small)["consumer_max_fetch_size"] == 1048576
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={"LEADSTREAM__KAFKA__MAX_PARTITION_FETCH_BYTES": "1000"})
    assert "kafka.max_partition_fetch_bytes" in caught.value.field
    assert "65536" in caught.value.why


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    file = tmp_path / "s.yaml"
    file.write_text("kafka:\n  bootstrap_servers: a:1\ntopics:\n  partitions: 4\nstate:\n  dir: st\n")
    settings = load_settings(
        file,
        environ={"LEADSTREAM__KAFKA__BOOTSTRAP_SERVERS": "b:2", "LEADSTREAM__TOPICS__TOUCHPOINTS": "t1, t2"},
    )
    assert settings.kafka.bootstrap_servers == "b:2"
    assert settings.topics.partitions == 4
    assert settings.topics.touchpoints == ["t1", "t2"]
    assert settings.state.dir == tmp_path / "st"


def test_example_settings_file_is_valid() -> None:
    example = Path(__file__).parents[2] / "config" / "leadstream.example.yaml"
    settings = load_settings(example, environ={})
    assert settings.model_path.resolve() == DEFAULT_MODEL_PATH.resolve()


def test_bad_setting_names_file_line_and_field(tmp_path: Path) -> None:
    file = tmp_path / "s.yaml"
    file.write_text("app_id: x\nkafka:\n  bootstrap_servers: a:1\n  session_timeout_s: -3\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(file, environ={})
    err = caught.value
    assert (err.file, err.line, err.field) == (str(file), 4, "kafka.session_timeout_s")
    assert "greater than 0" in err.why
    assert str(err).startswith(f"{file}:4: kafka.session_timeout_s: ")


def test_bad_environment_value_names_the_variable(tmp_path: Path) -> None:
    file = tmp_path / "s.yaml"
    file.write_text("gc:\n  freeze_at_start: false\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(file, environ={"LEADSTREAM__GC__THRESHOLDS": "[700, 0, 1000]"})
    err = caught.value
    assert (err.file, err.field) == ("environment", "LEADSTREAM__GC__THRESHOLDS (gc.thresholds.1)")
    assert "greater than or equal to 1" in err.why
    # a bad value from the file still names the file and line
    file.write_text("gc:\n  thresholds: [700, 10]\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(file, environ={"LEADSTREAM__GC__FREEZE_AT_START": "false"})
    assert (caught.value.file, caught.value.line) == (str(file), 2)
    settings = load_settings(environ={"LEADSTREAM__GC__THRESHOLDS": "[1000, 20, 500]"}).gc
    assert settings.thresholds == (1000, 20, 500) and settings.freeze_at_start


def test_unknown_setting_is_an_error_not_ignored(tmp_path: Path) -> None:
    file = tmp_path / "s.yaml"
    file.write_text("kafka:\n  bootstrap_server: typo:1\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(file, environ={})
    assert caught.value.field == "kafka.bootstrap_server"
    assert caught.value.line == 2


def test_sasl_needs_credentials() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={"LEADSTREAM__KAFKA__SECURITY_PROTOCOL": "SASL_SSL"})
    assert "sasl_mechanism" in caught.value.why


def test_yaml_syntax_error_has_a_line(tmp_path: Path) -> None:
    file = tmp_path / "s.yaml"
    file.write_text("kafka:\n  bootstrap_servers: [unclosed\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(file, environ={})
    assert caught.value.field == "(syntax)"
    assert caught.value.line is not None


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.yaml", environ={})


def test_packaged_model_is_valid() -> None:
    model = load_model()
    assert model.name == "default"
    assert {rule.id for rule in model.rules} >= {"form_submit", "pricing_visit", "demo_request"}


@pytest.mark.parametrize(
    ("text", "line", "field", "why"),
    [
        ("name: m\nversion: '1'\nrules:\n  - id: a\n    type: web_visit\n    points: x\n", 6,
         "rules.0.points", "valid number"),
        ("name: m\nversion: '1'\nrules:\n  - id: a\n    type: fax\n    points: 1\n", 5,
         "rules.0.type", "unknown touchpoint type 'fax'"),
        ("name: m\nversion: '1'\nrules:\n  - {id: a, type: chat, points: 1}\n"
         "  - {id: a, type: chat, points: 2}\n", 3, "rules", "used twice"),
        ("name: m\nversion: '1'\nrules:\n  - id: a\n    type: chat\n    points: 1\n"
         "    half_life_days: 0\n", 7, "rules.0.half_life_days", "greater than 0"),
        ("name: m\nversion: '1'\nrules: []\n", 3, "rules", "at least 1"),
    ],
)
def test_bad_model_names_file_line_field(tmp_path: Path, text: str, line: int, field: str, why: str) -> None:
    file = tmp_path / "model.yaml"
    file.write_text(text)
    with pytest.raises(ModelError) as caught:
        load_model(file)
    err = caught.value
    assert (err.line, err.field) == (line, field)
    assert why in err.why


def test_cli_model_validate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["model", "validate", str(DEFAULT_MODEL_PATH)]) == 0
    assert "OK" in capsys.readouterr().out
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: m\nversion: '1'\nrules:\n  - {id: A!, type: chat, points: 1}\n")
    assert main(["model", "validate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:4: rules.0.id:" in err
