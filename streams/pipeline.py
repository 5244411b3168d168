"""The worker's Faust app and what the agents share: settings → app, topics, tables, lane, metrics.

:func:`build_pipeline` makes the app without any handler; ``leadstream.app.create_pipeline``
registers the agents and the HTTP views on it."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Any

import faust
from faust.types import TableT, TopicT

from leadstream.config.worker_files import WorkerFiles
from leadstream.config.settings import Settings
from leadstream.core.report import Cost
from leadstream.core.model import ModelSet, ScoringModel
from leadstream.streams.kafka_options import broker_urls, faust_credentials
from leadstream.streams.lane import BatchLane, upstream
from leadstream.streams.services.deadlines import DeadlineIndex
from leadstream.streams.ops.metrics import Metrics
from leadstream.streams.services.state_cache import StateCache
from leadstream.streams.services.visitor_shortcut import VisitorShortcut

__all__ = ["Pipeline", "build_pipeline", "changelog_topic", "changelog_topics", "LEADS_TABLE",
           "DEADLINES_TABLE", "ACCOUNTS_TABLE", "lead_messages_topic", "account_messages_topic"]

LEADS_TABLE = "leads"
DEADLINES_TABLE = "deadlines"
STATS_TABLE = "stats"
ACCOUNTS_TABLE = "accounts"
SHADOW_TABLE = "shadow"  # only with shadow models (settings shadow_model_paths)
TABLES = (LEADS_TABLE, DEADLINES_TABLE, STATS_TABLE, ACCOUNTS_TABLE)


@dataclass
class Pipeline:
    """Everything the agents need, built once per worker."""

    app: faust.App
    settings: Settings
    models: ModelSet
    metrics: Metrics
    touchpoints: TopicT
    feedback: TopicT
    commands: TopicT
    lead_messages: TopicT
    account_messages: TopicT  # contact updates keyed by account (the accounts' repartition hop)
    handover: TopicT
    nurture: TopicT
    dlq: TopicT
    leads: TableT[bytes, bytes]  # lead id → encoded LeadState
    deadlines: TableT[bytes, bytes]  # lead id → next tick time (see services.deadlines)
    deadline_index: DeadlineIndex
    stats: TableT[bytes, bytes]  # "partition-<n>" → leads per stage and grade (services.funnel)
    accounts: TableT[bytes, bytes]  # account id → encoded AccountState (core.accounts)
    lane: BatchLane  # how the agents consume their topics (see streams.lane)
    state_cache: StateCache  # the lead handler's decoded states (see streams.state_cache)
    shortcut: VisitorShortcut  # ingest's forward for linked visitors (see streams.visitor_shortcut)
    costs: list[Cost]  # campaign costs for the funnel report (settings reports.costs_path)
    shadows: tuple[ModelSet, ...] = ()  # candidate models beside the primary (core/shadow.py)
    shadow: TableT[bytes, bytes] | None = None  # "<model> NUL <lead id>" → the shadow's LeadState
    handover_shadow: TopicT | None = None  # the shadows' would-be transitions


def lead_messages_topic(settings: Settings) -> str:
    """Validated touchpoints and CRM feedback keyed by canonical lead id (the repartition hop)."""
    return f"{settings.app_id}-lead-messages"


def account_messages_topic(settings: Settings) -> str:
    """Contact updates keyed by account id (core/accounts.py)."""
    return f"{settings.app_id}-account-messages"


def changelog_topic(settings: Settings, table: str = LEADS_TABLE) -> str:
    return f"{settings.app_id}-{table}-changelog"


def changelog_topics(settings: Settings) -> list[str]:
    tables = TABLES + ((SHADOW_TABLE,) if settings.shadow_model_paths else ())
    return [changelog_topic(settings, table) for table in tables]


def canonical_url(settings: Settings) -> str:
    """How other workers reach this one: configured, or this host's name when bound to all
    interfaces (containers: the name other containers resolve), or the bind address."""
    web = settings.web
    if web.canonical_url:
        return web.canonical_url.rstrip("/")
    host = socket.getfqdn() if web.host in ("0.0.0.0", "::", "") else web.host
    return f"http://{host}:{web.port}"


def faust_settings(settings: Settings) -> dict[str, Any]:
    kafka = settings.kafka
    if kafka.flavour == "tansu":
        upstream.configure_tansu(fetch_max_wait_ms=kafka.effective_fetch_max_wait_ms())
    scheme = upstream.scheme_for(kafka.flavour)
    options: dict[str, Any] = dict(
        broker=broker_urls(kafka, scheme),
        broker_client_id=kafka.client_id,
        broker_credentials=faust_credentials(kafka),
        broker_session_timeout=kafka.effective_session_timeout(),
        broker_heartbeat_interval=kafka.effective_heartbeat_interval(),
        broker_rebalance_timeout=kafka.effective_rebalance_timeout(),
        broker_commit_interval=kafka.commit_interval_s,
        producer_linger=kafka.producer_linger_ms / 1000.0,
        producer_max_batch_size=kafka.producer_batch_bytes,
        # Faust's default is 1 MiB; ours is 4 MiB, see KafkaSettings.max_partition_fetch_bytes
        consumer_max_fetch_size=kafka.max_partition_fetch_bytes,
        # at-least-once + per-lead dedupe + deterministic ids (README, "Guarantees"; the embedded broker has no working transactions)
        processing_guarantee="at_least_once",
        consumer_auto_offset_reset="earliest",
        # static membership (KIP-345): a restarted worker with the same id takes its place in
        # the group at once instead of waiting for the broker to drop its previous incarnation
        consumer_group_instance_id=kafka.group_instance_id,
        store="rocksdb://",
        datadir=str(settings.state.dir),
        topic_partitions=settings.topics.partitions,
        topic_replication_factor=settings.topics.replication_factor,
        topic_allow_declare=True,
        web_enabled=settings.web.enabled,
        web_bind=settings.web.host,
        web_host=settings.web.host,
        web_port=settings.web.port,
        # what other workers are told in the assignment, to forward lead queries here
        canonical_url=canonical_url(settings),
        autodiscover=False,
        # No standby replicas: one copy of the state per partition plus its changelog.
        table_standby_replicas=0,
    )
    return options


def _rocksdb_options(settings: Settings, share: int = 1) -> dict[str, Any]:
    """Explicit memory limits (RocksDB's defaults are sized for one big database, and Faust opens
    one per partition); ``share`` divides them for small tables."""
    rocks = settings.state.rocksdb
    mib = 1024 * 1024
    return {
        "driver": "rocksdict",
        "write_buffer_size": max(1, rocks.write_buffer_size_mb // share) * mib,
        "max_write_buffer_number": rocks.max_write_buffer_number,
        "block_cache_size": max(1, rocks.block_cache_mb // share) * mib,
        "max_open_files": rocks.max_open_files,
    }


def build_pipeline(settings: Settings, models: ScoringModel | ModelSet,
                   files: WorkerFiles) -> Pipeline:
    """Create the app with its topics, tables and lane, and no handler yet (not started);
    ``files``: the shadow models and campaign costs the worker read at start."""
    app = faust.App(settings.app_id, **faust_settings(settings))
    upstream.make_flush_durable(app)
    lane = BatchLane()
    upstream.attach_lane(app, lane)
    partitions = settings.topics.partitions
    raw: dict[str, Any] = dict(key_serializer="raw", value_serializer="raw", partitions=partitions)
    leads = _bytes_table(app, settings, LEADS_TABLE)
    cache = StateCache(settings.state.cache_leads, settings.state.cache_retired_ids)
    model_set = _with_accounts(ModelSet.of(models), settings)
    pipeline = Pipeline(
        app=app,
        settings=settings,
        models=model_set,
        metrics=Metrics(),
        touchpoints=app.topic(*settings.topics.touchpoints, **raw),
        feedback=app.topic(settings.topics.feedback, **raw),
        commands=app.topic(settings.topics.commands, **raw),
        lead_messages=app.topic(lead_messages_topic(settings), internal=True, **raw),
        account_messages=app.topic(account_messages_topic(settings), internal=True, **raw),
        handover=app.topic(settings.topics.handover, **raw),
        nurture=app.topic(settings.topics.nurture, **raw),
        dlq=app.topic(settings.topics.dlq, **raw),
        leads=leads,
        deadlines=_bytes_table(app, settings, DEADLINES_TABLE, share=8),  # 16 bytes per entry
        deadline_index=DeadlineIndex(),
        stats=_bytes_table(app, settings, STATS_TABLE, share=16),  # one record per partition
        accounts=_bytes_table(app, settings, ACCOUNTS_TABLE, share=4),
        lane=lane,
        state_cache=cache,
        shortcut=VisitorShortcut(app, lead_messages_topic(settings), leads, cache,
                                 lane.progress),
        costs=files.costs,
    )
    if files.shadows:
        pipeline.shadows = files.shadows
        pipeline.shadow = _bytes_table(app, settings, SHADOW_TABLE)
        pipeline.handover_shadow = app.topic(settings.topics.shadow, **raw)
    return pipeline


def _with_accounts(models: ModelSet, settings: Settings) -> ModelSet:
    return ModelSet(models.primary, models.others, accounts=settings.accounts.rules())


def _bytes_table(app: faust.App, settings: Settings, name: str,
                 share: int = 1) -> TableT[bytes, bytes]:
    """A RocksDB-backed table of bytes → bytes with explicit memory options."""
    partitions = settings.topics.partitions
    table = app.Table(
        name,
        default=None,
        partitions=partitions,
        # Faust derives a table's codecs from key_type/value_type (json unless a faust.Record
        # says otherwise) and ignores ``schema``. For bytes in, bytes out, the changelog topic is
        # built here with raw codecs (recovery decodes with it) ...
        changelog_topic=app.topic(
            changelog_topic(settings, name),
            key_serializer="raw",
            value_serializer="raw",
            partitions=partitions,
            compacting=True,
            deleting=False,
            acks=False,
            internal=True,
            maxsize=131_072,  # Faust's own changelog default: changelog reads are not committed
            allow_empty=True,
        ),
        # a fresh dict: Faust's RocksDB store pops keys from the mapping it is given
        options=_rocksdb_options(settings, share),
    )
    # ... and the table itself sends (and stores) with raw codecs too.
    table.key_serializer = "raw"
    table.value_serializer = "raw"
    return table
