"""What a worker does before Faust starts: create topics, drop local state that outlived its topics.

The topic plan (:func:`topic_plan`) is the one list of every topic the app uses, with partitions,
replication and cleanup policy; ``leadstream topics plan`` prints it as ``kafka-topics.sh``
commands and ``leadstream topics create`` creates what is missing (the Kubernetes topics Job).
"""

from __future__ import annotations

import logging
import shlex
import shutil
from dataclasses import dataclass, field

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from leadstream.config.settings import Settings
from leadstream.exceptions import BrokerError
from leadstream.streams.pipeline import (account_messages_topic, changelog_topics,
                                         lead_messages_topic)
from leadstream.streams.kafka_options import aiokafka_options

__all__ = ["prepare", "ensure_topics", "external_topics", "topic_plan", "TopicSpec",
           "kafka_topics_commands"]

log = logging.getLogger(__name__)


def external_topics(settings: Settings) -> list[str]:
    topics = settings.topics
    shadow = [topics.shadow] if settings.shadow_model_paths else []
    return [*topics.touchpoints, topics.handover, topics.nurture, topics.dlq, topics.feedback,
            topics.commands, *shadow]


_DAY_MS = 86_400_000


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    replication_factor: int
    configs: dict[str, str] = field(default_factory=dict)
    why: str = ""


def topic_plan(settings: Settings) -> list[TopicSpec]:
    """Every topic the app reads or writes, external and internal, as it should be created.

    Changelogs are compacted: a table's state is the last record per key, and restore time grows
    with a log that is never compacted. Everything else is deleted by time; the DLQ keeps
    ``topics.dlq_retention_days`` so rejected input can still be inspected and replayed.
    """
    t = settings.topics
    n, rf = t.partitions, t.replication_factor
    delete = {"cleanup.policy": "delete"}
    plan = [TopicSpec(name, n, rf, dict(delete), "input: touchpoints") for name in t.touchpoints]
    plan += [
        TopicSpec(t.feedback, n, rf, dict(delete), "input: CRM verdicts"),
        TopicSpec(t.commands, n, rf, dict(delete), "input: operator commands"),
        TopicSpec(t.handover, n, rf, dict(delete), "output: the CRM contract"),
        TopicSpec(t.nurture, n, rf, dict(delete), "output: nurture signals for marketing automation"),
        *([TopicSpec(t.shadow, n, rf, dict(delete),
                     "output: shadow models' would-be transitions (not for the CRM)")]
          if settings.shadow_model_paths else []),
        TopicSpec(t.dlq, n, rf, {**delete, "retention.ms": str(t.dlq_retention_days * _DAY_MS)},
                  "output: rejected input with its reason"),
        TopicSpec(lead_messages_topic(settings), n, rf, {**delete, "retention.ms": str(7 * _DAY_MS)},
                  "internal: messages keyed by lead (read within seconds)"),
        TopicSpec(account_messages_topic(settings), n, rf,
                  {**delete, "retention.ms": str(7 * _DAY_MS)},
                  "internal: contact updates keyed by account (read within seconds)"),
    ]
    plan += [TopicSpec(name, n, rf, {"cleanup.policy": "compact"}, "internal: table changelog")
             for name in changelog_topics(settings)]
    return plan


def kafka_topics_commands(settings: Settings) -> list[str]:
    """The plan as ``kafka-topics.sh --create`` commands (for a shell next to real Kafka)."""
    out = []
    for spec in topic_plan(settings):
        parts = ["kafka-topics.sh", "--bootstrap-server", settings.kafka.bootstrap_servers,
                 "--create", "--if-not-exists", "--topic", spec.name,
                 "--partitions", str(spec.partitions),
                 "--replication-factor", str(spec.replication_factor)]
        for key, value in spec.configs.items():
            parts += ["--config", f"{key}={value}"]
        out.append(" ".join(shlex.quote(p) for p in parts))
    return out


async def _admin(settings: Settings) -> AIOKafkaAdminClient:
    admin = AIOKafkaAdminClient(
        client_id=f"{settings.kafka.client_id}-admin", **aiokafka_options(settings.kafka)
    )
    try:
        await admin.start()
    except Exception as exc:
        await admin.close()
        raise BrokerError(
            f"cannot reach Kafka at {settings.kafka.bootstrap_servers}: {exc}"
        ) from exc
    return admin


async def ensure_topics(settings: Settings, names: list[str] | None = None) -> list[str]:
    """Create the missing ones among ``names`` (default: the app's external topics), as the
    topic plan says; return the names created."""
    wanted = names if names is not None else external_topics(settings)
    specs = {spec.name: spec for spec in topic_plan(settings)}
    admin = await _admin(settings)
    try:
        existing = set(await admin.list_topics())
        missing = [name for name in dict.fromkeys(wanted) if name not in existing]
        if missing:
            new = []
            for name in missing:
                spec = specs.get(name) or TopicSpec(name, settings.topics.partitions,
                                                    settings.topics.replication_factor)
                new.append(NewTopic(name, spec.partitions, spec.replication_factor,
                                    topic_configs=dict(spec.configs)))
            await admin.create_topics(new)
        return missing
    finally:
        await admin.close()


async def _missing_topics(settings: Settings, names: list[str]) -> list[str]:
    admin = await _admin(settings)
    try:
        existing = set(await admin.list_topics())
    finally:
        await admin.close()
    return [name for name in names if name not in existing]


async def prepare(settings: Settings) -> None:
    if settings.topics.create:
        created = await ensure_topics(settings)
        if created:
            log.info("created topics: %s", ", ".join(created))
    state_dir = settings.state.dir
    has_local_state = state_dir.exists() and any(state_dir.iterdir())
    missing = await _missing_topics(settings, changelog_topics(settings)) if has_local_state else []
    if missing:
        # A changelog is gone (topics recreated, or a fresh in-memory broker): the local
        # RocksDB state belongs to another incarnation and would make Faust fail or lie.
        log.warning("changelog topic(s) %s missing; wiping local state in %s",
                    ", ".join(missing), state_dir)
        shutil.rmtree(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
