"""What a worker does before Faust starts: create topics, drop local state that outlived its topics."""

from __future__ import annotations

import logging
import shutil

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from leadstream.config.settings import Settings
from leadstream.exceptions import BrokerError
from leadstream.streams.app import changelog_topics
from leadstream.streams.kafka_options import aiokafka_options

__all__ = ["prepare", "ensure_topics", "external_topics"]

log = logging.getLogger(__name__)


def external_topics(settings: Settings) -> list[str]:
    topics = settings.topics
    return [*topics.touchpoints, topics.handover, topics.dlq, topics.feedback, topics.commands]


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
    """Create the missing ones among ``names`` (default: the app's external topics)."""
    wanted = names if names is not None else external_topics(settings)
    admin = await _admin(settings)
    try:
        existing = set(await admin.list_topics())
        missing = [name for name in dict.fromkeys(wanted) if name not in existing]
        if missing:
            await admin.create_topics(
                [
                    NewTopic(name, settings.topics.partitions, settings.topics.replication_factor)
                    for name in missing
                ]
            )
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
