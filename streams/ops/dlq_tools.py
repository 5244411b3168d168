"""``leadstream dlq show`` and ``leadstream dlq redrive``: what the DLQ holds, by kind, and its
records sent back to the topic they came from once the cause is fixed.

``show`` prints counts, the source topics and a few distinct reasons per kind — never a payload
(it may hold personal data). ``redrive`` produces each selected record's original key, value and
headers to its source topic, if that is one of the app's input topics; the workers then take it
as new input (a record that was applied before is a duplicate there and changes nothing).
Records refused as internal lead messages (``source.topic`` ``<app>-lead-messages``) are not
sent back: they are not what a producer sent.
"""

from __future__ import annotations

import base64
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime

from aiokafka import AIOKafkaProducer

from leadstream.config.settings import Settings
from leadstream.schemas.dlq import DlqRecord
from leadstream.streams.kafka_options import aiokafka_options
from leadstream.streams.topic_reader import read_to_end

__all__ = ["read_dlq", "select", "summary", "redrive", "Redriven"]

_REASONS = 3


async def read_dlq(settings: Settings) -> list[DlqRecord]:
    """Every DLQ record, per partition in offset order."""
    runs = await read_to_end(settings, [settings.topics.dlq])
    return [DlqRecord.model_validate_json(m.value or b"{}") for _, messages in
            sorted(runs.items(), key=lambda item: item[0].partition) for m in messages]


def select(records: list[DlqRecord], *, kind: str | None = None, stage: str | None = None,
           since: float | None = None) -> list[DlqRecord]:
    return [r for r in records if (kind is None or r.kind == kind)
            and (stage is None or r.stage == stage)
            and (since is None or r.rejected_at.timestamp() >= since)]


def summary(records: list[DlqRecord]) -> str:
    """Counts by kind and stage, with source topics and a few distinct reasons."""
    if not records:
        return "the DLQ holds no such records"
    groups: dict[tuple[str, str], list[DlqRecord]] = defaultdict(list)
    for record in records:
        groups[(record.kind, record.stage)].append(record)
    lines = [f"{len(records)} records, {len(groups)} kinds"]
    for (kind, stage), group in sorted(groups.items(), key=lambda g: (-len(g[1]), g[0])):
        topics = Counter(r.source.topic for r in group)
        newest = max(r.rejected_at for r in group)
        lines.append(f"{kind} (stage {stage}): {len(group)}, from "
                     + ", ".join(f"{t} {n}" for t, n in topics.most_common())
                     + f"; newest {_iso(newest)}")
        for reason in list(dict.fromkeys(r.reason for r in group))[:_REASONS]:
            lines.append(f"    {reason}")
    return "\n".join(lines)


def _iso(at: datetime) -> str:
    return at.isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass
class Redriven:
    sent: Counter[str]  # topic → records sent
    skipped: Counter[str]  # source topic → records not sent (not an input topic)


async def redrive(settings: Settings, records: list[DlqRecord], *,
                  dry_run: bool = False) -> Redriven:
    """Produce the records' original bytes to their source topics (inputs only); wait for the
    broker to take every one."""
    inputs = {*settings.topics.touchpoints, settings.topics.feedback, settings.topics.commands}
    out = Redriven(Counter(), Counter())
    chosen = []
    for record in records:
        if record.source.topic in inputs:
            chosen.append(record)
            out.sent[record.source.topic] += 1
        else:
            out.skipped[record.source.topic] += 1
    if dry_run or not chosen:
        return out
    producer = AIOKafkaProducer(acks="all", **aiokafka_options(settings.kafka))
    await producer.start()
    try:
        sends = [await producer.send(
            record.source.topic, base64.b64decode(record.value_b64),
            key=base64.b64decode(record.key_b64) if record.key_b64 is not None else None,
            headers=[(h.key, base64.b64decode(h.value_b64)) for h in record.headers] or None)
            for record in chosen]
        for sent in sends:
            await sent
    finally:
        await producer.stop()
    return out
