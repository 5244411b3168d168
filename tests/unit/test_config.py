"""Settings and model files: bad config fails with file, line, field and why."""

from __future__ import annotations

from pathlib import Path

import pytest

from leadstream.cli import main
from leadstream.config import DEFAULT_MODEL_PATH, load_model, load_settings
from leadstream.exceptions import ConfigError, ModelError


_OPEN = {"LEADSTREAM__WEB__AUTH": "none"}


def test_defaults_without_a_file(tmp_path: Path) -> None:
    settings = load_settings(environ={}, serves_web=False)
    assert settings.web.auth == "token" and settings.web.api_token is None
    assert settings.kafka.bootstrap_servers == "localhost:9092"
    assert settings.kafka.flavour == "kafka"
    assert settings.kafka.effective_session_timeout() == 60.0
    assert settings.topics.partitions == 8


def test_tansu_flavour_gets_the_short_timeouts() -> None:
    kafka = load_settings(environ={"LEADSTREAM__KAFKA__FLAVOUR": "tansu", **_OPEN}).kafka
    assert (kafka.effective_session_timeout(), kafka.effective_heartbeat_interval(),
            kafka.effective_rebalance_timeout(), kafka.effective_fetch_max_wait_ms()) == (6, 1, 10, 100)


def test_fetch_size_reaches_the_faust_consumer() -> None:
    """Faust's consumer fetches at most ``consumer_max_fetch_size`` per partition (Faust's 1 MiB
    unless told; ours 4 MiB); the setting must get there, and a nonsense size stops the worker at
    start."""
    from leadstream.streams.pipeline import faust_settings

    default = load_settings(environ=_OPEN)
    assert faust_settings(default)["consumer_max_fetch_size"] == 4 * 1024 * 1024
    small = load_settings(environ={"LEADSTREAM__KAFKA__MAX_PARTITION_FETCH_BYTES": "1048576", **_OPEN})
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
        environ={"LEADSTREAM__KAFKA__BOOTSTRAP_SERVERS": "b:2", "LEADSTREAM__TOPICS__TOUCHPOINTS": "t1, t2",
                 **_OPEN},
    )
    assert settings.kafka.bootstrap_servers == "b:2"
    assert settings.topics.partitions == 4
    assert settings.topics.touchpoints == ["t1", "t2"]
    assert settings.state.dir == tmp_path / "st"


def test_example_settings_file_is_valid() -> None:
    example = Path(__file__).parents[2] / "config" / "leadstream.example.yaml"
    settings = load_settings(example, environ={"LEADSTREAM__WEB__API_TOKEN": "t"})
    assert settings.web.auth == "token"
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
        load_settings(file, environ={"LEADSTREAM__GC__FREEZE_AT_START": "false", **_OPEN})
    assert (caught.value.file, caught.value.line) == (str(file), 2)
    settings = load_settings(environ={"LEADSTREAM__GC__THRESHOLDS": "[1000, 20, 500]", **_OPEN}).gc
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
        # a typo anywhere is an error, never a rule that silently never matches
        ("name: m\nversion: '1'\nrules:\n  - id: a\n    type: download\n"
         "    match: {asset_knd: whitepaper}\n    points: 1\n", 4, "rules.0",
         "match field 'asset_knd' is not carried by download touchpoints"),
        ("name: m\nversion: '1'\nrules:\n  - id: a\n    type: download\n"
         "    match: {asset_kind: white_paper}\n    points: 1\n", 4, "rules.0",
         "fits none of the values"),
        ("name: m\nversion: '1'\nrules:\n  - {id: a, type: chat, points: 1}\nfit:\n  rules:\n"
         "    - id: t\n      field: jobtitle\n      words: [cto]\n", 7, "fit.rules.0",
         "field 'jobtitle' is not a profile field"),
        ("name: m\nversion: '1'\nrules:\n  - {id: a, type: chat, points: 1}\nfit:\n  rules:\n"
         "    - id: t\n      field: job_title\n      wrods: [cto]\n", 9, "fit.rules.0.wrods",
         "Extra inputs are not permitted"),
        ("name: m\nversion: '1'\nrules:\n  - {id: a, type: chat, points: 1}\nfit:\n  rules:\n"
         "    - id: t\n      field: company_size\n      values: ['800']\n", 7, "fit.rules.0",
         "is a number: use min/max"),
        ("name: m\nversion: '1'\nrules:\n  - {id: a, type: chat, points: 1}\nfit:\n  rules:\n"
         "    - id: t\n      field: job_title\n      regex: ['(cto']\n", 7, "fit.rules.0",
         "not a valid regular expression"),
        ("name: m\nversion: '1'\nrules:\n  - {id: a, type: chat, points: 1}\nlifecycle:\n"
         "  mql: {min_score: 5, min_grde: C}\n", 6, "lifecycle.mql.min_grde",
         "Extra inputs are not permitted"),
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


# -- the environment is read as strings; secrets as written --------------------------------------

_SASL = {"LEADSTREAM__KAFKA__SECURITY_PROTOCOL": "SASL_SSL",
         "LEADSTREAM__KAFKA__SASL_MECHANISM": "SCRAM-SHA-512",
         "LEADSTREAM__KAFKA__SASL_USERNAME": "leadstream"}


@pytest.mark.parametrize("written", ["null", "~", "s3cr3t #x", "12345", "2024", "yes", "off",
                                     "  padded  ", "'quoted'", "[1, 2]", "{a: b}", "NULL"])
def test_secrets_in_the_environment_are_read_exactly_as_written(written: str) -> None:
    settings = load_settings(environ={"LEADSTREAM__WEB__API_TOKEN": written,
                                      "LEADSTREAM__KAFKA__SASL_PASSWORD": written, **_SASL})
    assert settings.web.api_token is not None
    assert settings.web.api_token.get_secret_value() == written
    assert settings.kafka.sasl_password is not None
    assert settings.kafka.sasl_password.get_secret_value() == written
    assert settings.web.auth == "token"


def test_environment_strings_are_validated_as_the_fields_type() -> None:
    settings = load_settings(environ={
        "LEADSTREAM__WEB__AUTH": "none", "LEADSTREAM__TOPICS__PARTITIONS": "12",
        "LEADSTREAM__TICKS__ENABLED": "false", "LEADSTREAM__KAFKA__COMMIT_INTERVAL_S": "1.5",
        "LEADSTREAM__HYGIENE__BOT_USER_AGENTS": '["bot", "a,b"]',
        "LEADSTREAM__HYGIENE__INTERNAL_EMAIL_DOMAINS": "example.com, example.org",
        "LEADSTREAM__APP_ID": "12345",
    })
    assert settings.topics.partitions == 12 and settings.ticks.enabled is False
    assert settings.kafka.commit_interval_s == 1.5
    assert settings.hygiene.bot_user_agents == ["bot", "a,b"]
    assert settings.hygiene.internal_email_domains == ["example.com", "example.org"]
    assert settings.app_id == "12345"


@pytest.mark.parametrize("value", ["", "null", "~", "none", "false", "0"])
def test_no_value_of_the_token_turns_authentication_off(value: str) -> None:
    """Only ``web.auth: none`` does; an empty variable counts as not set, so the worker refuses
    to start rather than serve the API open."""
    environ = {"LEADSTREAM__WEB__API_TOKEN": value}
    if value == "":
        with pytest.raises(ConfigError) as caught:
            load_settings(environ=environ)
        assert caught.value.field == "web.api_token"
        assert "web.auth: none" in caught.value.why
    else:
        settings = load_settings(environ=environ)
        assert settings.web.auth == "token"
        assert settings.web.api_token is not None
        assert settings.web.api_token.get_secret_value() == value


def test_authentication_is_off_only_by_the_explicit_setting(tmp_path: Path) -> None:
    assert load_settings(environ={"LEADSTREAM__WEB__AUTH": "none"}).web.api_token is None
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={"LEADSTREAM__WEB__AUTH": "off"})
    assert "web.auth" in caught.value.field
    with pytest.raises(ConfigError, match="remove one of them"):
        load_settings(environ={"LEADSTREAM__WEB__AUTH": "none", "LEADSTREAM__WEB__API_TOKEN": "t"})
    file = tmp_path / "s.yaml"
    file.write_text("web:\n  api_token: null\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(file, environ={})
    assert (caught.value.file, caught.value.line, caught.value.field) == (str(file), 1, "web.api_token")
    # a client command serves no API and needs no token
    assert load_settings(environ={}, serves_web=False).web.api_token is None
    assert load_settings(environ={"LEADSTREAM__WEB__ENABLED": "false"}).web.enabled is False


def test_secrets_from_files_and_a_secrets_directory(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_bytes(b"  t0k3n # not a comment \n")  # echo adds one line break: not the secret
    settings = load_settings(environ={"LEADSTREAM__WEB__API_TOKEN_FILE": str(token)})
    assert settings.web.api_token is not None
    assert settings.web.api_token.get_secret_value() == "  t0k3n # not a comment "
    token.write_bytes(b"two\n\n")  # only one line break is taken off
    settings = load_settings(environ={"LEADSTREAM__WEB__API_TOKEN_FILE": str(token)})
    assert settings.web.api_token.get_secret_value() == "two\n"  # type: ignore[union-attr]

    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "LEADSTREAM__KAFKA__SASL_PASSWORD").write_text("2024")
    (secrets / "LEADSTREAM__WEB__API_TOKEN").write_text("from-dir\r\n")
    (secrets / "..data").mkdir()  # what a Kubernetes Secret mount also holds
    settings = load_settings(environ={"LEADSTREAM_SECRETS_DIR": str(secrets), **_SASL})
    assert settings.kafka.sasl_password.get_secret_value() == "2024"  # type: ignore[union-attr]
    assert settings.web.api_token.get_secret_value() == "from-dir"  # type: ignore[union-attr]

    with pytest.raises(ConfigError, match="set twice"):
        load_settings(environ={"LEADSTREAM_SECRETS_DIR": str(secrets), **_SASL,
                               "LEADSTREAM__WEB__API_TOKEN": "direct"})
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={"LEADSTREAM__WEB__API_TOKEN_FILE": str(tmp_path / "missing")})
    assert caught.value.field == "LEADSTREAM__WEB__API_TOKEN_FILE" and "not found" in caught.value.why


def test_an_unknown_variable_is_an_error_that_names_it() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={"LEADSTREAM__WEB__API_TOKN": "x"})
    assert caught.value.field == "LEADSTREAM__WEB__API_TOKN"
    assert "no setting 'api_tokn' in web" in caught.value.why


def test_config_check_prints_effective_settings_with_secrets_masked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [n for n in __import__("os").environ if n.startswith("LEADSTREAM_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("LEADSTREAM__WEB__API_TOKEN", "very-secret-token")
    monkeypatch.setenv("LEADSTREAM__KAFKA__SASL_PASSWORD", "very-secret-password")
    for name, value in _SASL.items():
        monkeypatch.setenv(name, value)
    file = tmp_path / "s.yaml"
    file.write_text("topics:\n  partitions: 3\n")
    assert main(["config", "check", "--config", str(file)]) == 0
    out = capsys.readouterr().out
    assert "very-secret" not in out
    assert "api_token: '**********'" in out and "sasl_password: '**********'" in out
    assert "partitions: 3" in out and "LEADSTREAM__WEB__API_TOKEN" in out
    monkeypatch.delenv("LEADSTREAM__WEB__API_TOKEN")
    assert main(["config", "check", "--config", str(file)]) == 2
    assert "web.api_token" in capsys.readouterr().err


def test_static_group_membership_reaches_the_faust_consumer() -> None:
    """kafka.group_instance_id (KIP-345) is what Faust hands aiokafka as group_instance_id;
    unset, the group stays dynamic."""
    from leadstream.streams.pipeline import faust_settings

    assert faust_settings(load_settings(environ=_OPEN))["consumer_group_instance_id"] is None
    static = load_settings(environ={"LEADSTREAM__KAFKA__GROUP_INSTANCE_ID": "leadstream-0", **_OPEN})
    assert faust_settings(static)["consumer_group_instance_id"] == "leadstream-0"
    with pytest.raises(ConfigError, match="kafka.group_instance_id"):
        load_settings(environ={"LEADSTREAM__KAFKA__GROUP_INSTANCE_ID": "$(POD_NAME)", **_OPEN})


def test_config_check_reads_the_shadow_model_it_names(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [n for n in __import__("os").environ if n.startswith("LEADSTREAM_")]:
        monkeypatch.delenv(name)
    candidate = tmp_path / "candidate.yaml"
    candidate.write_text('name: x\nversion: "2"\nrules:\n  - {id: a, type: web_visit, points: lots}\n')
    file = tmp_path / "s.yaml"
    file.write_text("web:\n  auth: none\nshadow_model_paths: [candidate.yaml]\n")
    assert main(["config", "check", "--config", str(file)]) == 2
    assert f"{candidate}:4: rules.0.points" in capsys.readouterr().err
    candidate.write_text('name: x\nversion: "2"\nrules:\n  - {id: a, type: web_visit, points: 3}\n')
    assert main(["config", "check", "--config", str(file)]) == 0
    assert "shadow_model_paths:" in capsys.readouterr().out
