"""Worker settings: one YAML file (optional) overlaid by ``LEADSTREAM__…`` environment variables.

Environment names are the field path in upper case joined by double underscores, e.g.
``LEADSTREAM__KAFKA__BOOTSTRAP_SERVERS=broker:9092``. Values are read as the strings they are,
and may come from files (``…_FILE``, a secrets directory): ``config/environment.py``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, IPvAnyNetwork, SecretStr, model_validator

from leadstream.config.environment import ENV_PREFIX, overlay
from leadstream.config.model_loader import DEFAULT_MODEL_PATH
from leadstream.config.yaml_source import LinedYaml, read_yaml, validate
from leadstream.core.accounts import DEFAULT_FREE_MAIL, AccountRules
from leadstream.exceptions import ConfigError

__all__ = [
    "Settings",
    "KafkaSettings",
    "TopicSettings",
    "StateSettings",
    "RocksDBSettings",
    "WebSettings",
    "LogSettings",
    "GcSettings",
    "HygieneSettings",
    "IdentitySettings",
    "AccountSettings",
    "ReportSettings",
    "ConnectorSettings",
    "load_settings",
    "ENV_PREFIX",
]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class KafkaSettings(_Section):
    bootstrap_servers: str = Field(default="localhost:9092", min_length=1)
    flavour: Literal["kafka", "tansu"] = Field(
        default="kafka",
        description="'tansu' applies the embedded broker's workarounds (README, 'The embedded broker'); "
        "'kafka' uses normal client defaults",
    )
    client_id: str = "leadstream"
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    group_instance_id: str | None = Field(
        default=None, min_length=1, max_length=249, pattern=r"^[A-Za-z0-9._-]+$",
        description="static group membership (KIP-345): a stable id per worker, e.g. the pod "
        "name of a StatefulSet. A worker restarted with the same id gets its partitions back "
        "without waiting out the session timeout; two running workers must never share one",
    )
    session_timeout_s: float | None = Field(default=None, gt=0)
    heartbeat_interval_s: float | None = Field(default=None, gt=0)
    rebalance_timeout_s: float | None = Field(default=None, gt=0)
    fetch_max_wait_ms: int | None = Field(default=None, ge=1, le=60_000)
    commit_interval_s: float = Field(default=2.8, gt=0)
    producer_linger_ms: float = Field(default=0.0, ge=0)
    producer_batch_bytes: int = Field(
        default=256 * 1024, ge=16 * 1024, le=1024 * 1024,
        description="largest produced batch per partition; a handler's output to one partition "
        "goes out in batches of this size (keep it under the broker's message.max.bytes)",
    )

    max_partition_fetch_bytes: int = Field(
        default=4 * 1024 * 1024, ge=64 * 1024, le=64 * 1024 * 1024,
        description="most data one fetch returns per partition (Faust's default is 1 MiB). Larger "
        "fetches let a lead's messages share one state write while a backlog is worked off (less "
        "CPU per touchpoint than 1 MiB in benchmarks/throughput.py); a stop or rebalance waits only for "
        "the partition batch at hand, not the whole fetch. Memory holds up to this much per "
        "assigned partition (at most 50 MB per fetch: aiokafka's fetch_max_bytes)",
    )

    @model_validator(mode="after")
    def _sasl_complete(self) -> KafkaSettings:
        if self.security_protocol.startswith("SASL") and not (
            self.sasl_mechanism and self.sasl_username and self.sasl_password
        ):
            raise ValueError(
                "security_protocol SASL_* needs sasl_mechanism, sasl_username and sasl_password"
            )
        return self

    # Defaults that differ per broker flavour (README, "The embedded broker": joins, fetch wait).
    def effective_session_timeout(self) -> float:
        return self.session_timeout_s or (6.0 if self.flavour == "tansu" else 60.0)

    def effective_heartbeat_interval(self) -> float:
        return self.heartbeat_interval_s or (1.0 if self.flavour == "tansu" else 3.0)

    def effective_rebalance_timeout(self) -> float:
        return self.rebalance_timeout_s or (10.0 if self.flavour == "tansu" else 60.0)

    def effective_fetch_max_wait_ms(self) -> int:
        return self.fetch_max_wait_ms or (100 if self.flavour == "tansu" else 1500)


class TopicSettings(_Section):
    touchpoints: list[str] = Field(default_factory=lambda: ["touchpoints"], min_length=1)
    feedback: str = "lead-feedback"
    commands: str = "lead-commands"
    handover: str = "lead-handover"
    nurture: str = Field(default="lead-nurture",
                         description="output: nurture signals for marketing automation")
    dlq: str = "touchpoints-dlq"
    shadow: str = Field(default="lead-handover-shadow",
                        description="output: the shadow models' would-be transitions (never the CRM's)")
    partitions: int = Field(default=8, ge=1, le=1024)
    replication_factor: int = Field(default=1, ge=1, le=16)
    create: bool = Field(default=True, description="create missing topics at start")
    dlq_retention_days: int = Field(
        default=30, ge=1, le=3650,
        description="retention.ms of the DLQ topic when leadstream creates it (topics plan/create)")


class RocksDBSettings(_Section):
    """Explicit RocksDB memory: Faust's defaults allocate a 2 GiB block cache per partition."""

    write_buffer_size_mb: int = Field(default=8, ge=1, le=1024)
    max_write_buffer_number: int = Field(default=2, ge=1, le=16)
    block_cache_mb: int = Field(default=16, ge=1, le=65536)
    max_open_files: int = Field(default=256, ge=16)


class StateSettings(_Section):
    dir: Path = Path("var/state")
    cache_leads: int = Field(
        default=10_000, ge=0, le=10_000_000,
        description="decoded lead states kept in memory per worker between batches (0: none); "
        "RocksDB stays the truth, this saves decoding hot leads again",
    )
    cache_retired_ids: int = Field(
        default=100_000, ge=0, le=100_000_000,
        description="retired ids (linked visitors, merged-away leads) kept in memory per worker "
        "as the lead they forward to, ~250 bytes each (0: they share cache_leads)",
    )
    rocksdb: RocksDBSettings = Field(default_factory=RocksDBSettings)


class WebSettings(_Section):
    enabled: bool = True
    host: str = Field(default="127.0.0.1", description="address the web server binds to")
    port: int = Field(default=6066, ge=1, le=65535)
    canonical_url: str | None = Field(
        default=None, pattern=r"^https?://[^/\s]+/?$",
        description="how other workers reach this one (lead queries are forwarded to the worker "
                    "that holds the lead); default http://host:port",
    )
    auth: Literal["token", "none"] = Field(
        default="token",
        description="'token': /leads and /funnel require 'Authorization: Bearer <api_token>', and "
        "the worker does not start without a token; 'none': they answer anyone who can reach "
        "the port (the only way to switch authentication off)",
    )
    api_token: SecretStr | None = Field(
        default=None, min_length=1,
        description="the bearer token of /leads and /funnel (web.auth: token); read it from a "
        "file with LEADSTREAM__WEB__API_TOKEN_FILE or LEADSTREAM_SECRETS_DIR",
    )
    ingest_max_bytes: int = Field(
        default=1_048_576, ge=1024, le=64 * 1024 * 1024,
        description="the largest body POST /touchpoints takes (413 above it)",
    )

    @model_validator(mode="after")
    def _auth_consistent(self) -> WebSettings:
        if self.auth == "none" and self.api_token is not None:
            raise ValueError("web.api_token is set but web.auth is 'none'; remove one of them")
        return self


class TickSettings(_Section):
    """Time-driven lifecycle: SLA breaches, going cold, re-checking idle leads after a model change."""

    enabled: bool = Field(default=True, description="tick leads whose deadline has passed")
    interval_s: float = Field(default=5.0, gt=0, le=3600, description="how often due leads are looked up")
    max_per_round: int = Field(default=5000, ge=1, description="ticks sent per round at most")
    sweep_on_model_change: bool = Field(
        default=True, description="once per model version, tick every lead scored by an older one"
    )


class HygieneSettings(_Section):
    """Touchpoint hygiene before scoring: events from the future, bots and internal traffic go to
    the DLQ with a reason instead of being scored (late events: the model's max_lateness_days)."""

    max_future_s: float = Field(
        default=300.0, ge=0, le=86_400,
        description="a touchpoint that occurred more than this after the worker's clock is "
        "rejected (future_event)",
    )
    bot_user_agents: list[str] = Field(
        default_factory=lambda: ["bot", "crawler", "spider", "slurp", "headlesschrome",
                                 "python-requests", "curl/", "wget/"],
        description="case-insensitive substrings of user_agent that mark bot traffic",
    )
    internal_email_domains: list[str] = Field(
        default_factory=list, description="touchpoints from these email domains are internal"
    )
    internal_ip_ranges: list[IPvAnyNetwork] = Field(
        default_factory=list, description="touchpoints from these networks (CIDR) are internal"
    )


class IdentitySettings(_Section):
    """Visitor links (README: "Visitors become leads")."""

    forward_at_ingest: bool = Field(
        default=True,
        description="ingest sends a linked visitor's touchpoint straight to its lead where that "
        "keeps the visitor's order (streams/services/visitor_shortcut.py); false: each goes through the "
        "retired visitor",
    )


class GcSettings(_Section):
    """CPython's garbage collector (leadstream/gc_tuning.py: why a worker changes it)."""

    freeze_at_start: bool = Field(
        default=True, description="exclude everything built at start from later collections")
    thresholds: tuple[Annotated[int, Field(ge=1)], Annotated[int, Field(ge=1)],
                      Annotated[int, Field(ge=1)]] = Field(
        default=(700, 10, 1000),
        description="gc.set_threshold: CPython's defaults are (700, 10, 10); the third makes full "
        "collections, which scan every cached lead state, rare",
    )


class LogSettings(_Section):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["text", "json"] = Field(default="text", description="json: one object per line")


class AccountSettings(_Section):
    """How leads are grouped into accounts and when an account is engaged (README, "Accounts")."""

    enabled: bool = Field(default=True, description="group known leads into accounts")
    free_mail_domains: list[str] = Field(
        default_factory=lambda: sorted(DEFAULT_FREE_MAIL),
        description="email domains that name no company: their leads stay without an account "
        "unless the profile names one (account_id, company_domain)")
    engaged_score: float = Field(default=120.0, gt=0, description="account engagement from "
                                 "which the account is engaged (a marketing-qualified account)")
    engaged_contacts: int = Field(default=2, ge=1, description="engaged contacts it needs too")
    contact_min_score: float = Field(default=20.0, ge=0, description="behaviour score from "
                                     "which a contact counts as engaged")
    diminishing: float = Field(default=0.5, gt=0, le=1, description="weight of the k-th best "
                               "contact's score: diminishing^k (the best counts fully)")
    rearm_below: float = Field(default=0.5, ge=0, lt=1, description="an engaged account is "
                               "announced again only after its engagement fell below this "
                               "fraction of engaged_score")

    def rules(self) -> AccountRules:
        return AccountRules(
            enabled=self.enabled,
            free_mail_domains=frozenset(d.strip().lower() for d in self.free_mail_domains),
            engaged_score=self.engaged_score, engaged_contacts=self.engaged_contacts,
            contact_min_score=self.contact_min_score, diminishing=self.diminishing,
            rearm_below=self.rearm_below)


class ReportSettings(_Section):
    """``GET /reports/funnel`` (README, "Reports")."""

    costs_path: Path | None = Field(
        default=None, description="campaign costs, CSV or YAML (campaign, period, cost, "
        "currency): the report adds cost per lead, MQL, SQL and won deal")


class ConnectorSettings(_Section):
    """``leadstream connector``: the reference CRM connector (README, "The CRM connector")."""

    database: SecretStr = Field(
        default=SecretStr("sqlite://var/connector/leads.db"),
        description="sqlite:///ABS/FILE.db, sqlite://REL/FILE.db or postgresql://USER:PASSWORD@HOST"
        "/DB (a secret: it may hold a password); relative SQLite paths are relative to the "
        "working directory")
    group_id: str = Field(default="leadstream-crm-connector", min_length=1,
                          description="the consumer group its offsets are committed under "
                          "(for lag monitoring; it reads its position from the database)")
    batch_max_records: int = Field(default=1000, ge=1, le=100_000,
                                   description="handover records written per transaction")
    verdicts_interval_s: float = Field(default=1.0, gt=0, le=3600,
                                       description="how often crm_verdicts is read for new rows")
    metrics_port: int | None = Field(default=None, ge=1, le=65535,
                                     description="serve Prometheus metrics on web.host at this "
                                     "port (none: no endpoint)")
    standby_poll_s: float = Field(default=1.0, gt=0, le=600,
                                  description="a connector started while another writes to the "
                                  "same database stands by, and checks this often whether it "
                                  "can take over")


class Settings(_Section):
    app_id: str = Field(default="leadstream", pattern=r"^[A-Za-z0-9._-]{1,100}$")
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    topics: TopicSettings = Field(default_factory=TopicSettings)
    state: StateSettings = Field(default_factory=StateSettings)
    web: WebSettings = Field(default_factory=WebSettings)
    ticks: TickSettings = Field(default_factory=TickSettings)
    hygiene: HygieneSettings = Field(default_factory=HygieneSettings)
    identity: IdentitySettings = Field(default_factory=IdentitySettings)
    log: LogSettings = Field(default_factory=LogSettings)
    gc: GcSettings = Field(default_factory=GcSettings)
    accounts: AccountSettings = Field(default_factory=AccountSettings)
    reports: ReportSettings = Field(default_factory=ReportSettings)
    connector: ConnectorSettings = Field(default_factory=ConnectorSettings)
    model_path: Path = Field(default=DEFAULT_MODEL_PATH, description="the primary scoring model")
    extra_model_paths: list[Path] = Field(
        default_factory=list, description="more models that only score (e.g. per product line)"
    )
    shadow_model_paths: list[Path] = Field(
        default_factory=list, description="candidate models run beside the primary: their "
        "transitions go to topics.shadow and to metrics, never to the CRM"
    )
    max_message_bytes: int = Field(default=65536, ge=256, le=16 * 1024 * 1024)


def _variable_for(field: str, names: Mapping[str, str]) -> str | None:
    """The variable that set ``field`` or a section or list that holds it."""
    for path, name in names.items():
        if field == path or field.startswith(path + "."):
            return name
    return None


def load_settings(
    path: Path | str | None = None, *, environ: Mapping[str, str] | None = None,
    serves_web: bool = True,
) -> Settings:
    """Load settings from ``path`` (optional) and the environment; raise ``ConfigError``.

    ``serves_web=False`` is for client commands (demo traffic), which need no API token.
    """
    environ = os.environ if environ is None else environ
    if path is not None:
        source = read_yaml(Path(path), what="settings")
    else:
        source = LinedYaml({}, {}, "(defaults)")
    if not isinstance(source.data, dict):
        raise ConfigError(source.file, "(document)", "the top level must be a mapping of fields")
    overlaid = dict(source.data)
    from_environment = overlay(overlaid, Settings, environ)
    # relative paths in a settings file are relative to that file, not to the working directory
    base = Path(path).parent if path is not None else Path.cwd()
    if isinstance(overlaid.get("model_path"), str) and not Path(overlaid["model_path"]).is_absolute():
        overlaid["model_path"] = str(base / overlaid["model_path"])
    for paths in ("extra_model_paths", "shadow_model_paths"):
        if isinstance(overlaid.get(paths), list):
            overlaid[paths] = [
                str(base / p) if isinstance(p, str) and not Path(p).is_absolute() else p
                for p in overlaid[paths]
            ]
    reports = overlaid.get("reports")
    if isinstance(reports, dict) and isinstance(reports.get("costs_path"), str) \
            and not Path(reports["costs_path"]).is_absolute():
        overlaid["reports"] = {**reports, "costs_path": str(base / reports["costs_path"])}
    state = overlaid.get("state")
    if isinstance(state, dict) and isinstance(state.get("dir"), str):
        if not Path(state["dir"]).is_absolute():
            overlaid["state"] = {**state, "dir": str(base / state["dir"])}
    try:
        settings = validate(Settings, LinedYaml(overlaid, source.lines, source.file))
    except ConfigError as exc:
        variable = _variable_for(exc.field, from_environment)
        if variable is None:
            raise
        raise ConfigError("environment", f"{variable} ({exc.field})", exc.why) from None
    web = settings.web
    if serves_web and web.enabled and web.auth == "token" and web.api_token is None:
        # no default token and no silent "open": the operator says which one they want
        raise ConfigError(
            source.file, "web.api_token",
            "not set, and web.auth is 'token' (the default): set the token "
            "(LEADSTREAM__WEB__API_TOKEN, LEADSTREAM__WEB__API_TOKEN_FILE or a file in "
            "LEADSTREAM_SECRETS_DIR), or set web.auth: none to serve /leads and /funnel without "
            "authentication", line=source.line_of(("web",)))
    return settings
