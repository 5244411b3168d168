"""``leadstream export``: the input topics (touchpoints, CRM verdicts, commands) as one log file.

Every partition of every input topic is read from its beginning to the end offset it had when
the export started (``streams.topic_reader``). Records are written oldest first by
record timestamp, ties by topic, partition and offset: within a partition, the order the workers
read them in. The records are held in memory while they are sorted (about the size of the
topics' values).
"""

from __future__ import annotations

import heapq
from pathlib import Path

from leadstream.backtest.records import LogRecord, write_log
from leadstream.config.settings import Settings
from leadstream.streams.topic_reader import read_to_end

__all__ = ["export_inputs", "input_topics"]


def input_topics(settings: Settings) -> dict[str, str]:
    """Topic name → input kind (``touchpoints``, ``feedback``, ``commands``)."""
    topics = {name: "touchpoints" for name in settings.topics.touchpoints}
    topics[settings.topics.feedback] = "feedback"
    topics[settings.topics.commands] = "commands"
    return topics


async def _read(settings: Settings) -> list[list[LogRecord]]:
    kinds = input_topics(settings)
    runs = await read_to_end(settings, kinds)
    return [[LogRecord(kind=kinds[tp.topic], value=m.value or b"", key=m.key,
                       timestamp=m.timestamp, topic=tp.topic, partition=tp.partition,
                       offset=m.offset) for m in messages]
            for tp, messages in runs.items()]


def _order(record: LogRecord) -> tuple[int, str, int, int]:
    return (record.timestamp or 0, record.topic or "", record.partition or 0, record.offset or 0)


async def export_inputs(settings: Settings, path: Path) -> int:
    """Write every input record to ``path`` (``.jsonl`` or ``.jsonl.gz``); return how many."""
    runs = await _read(settings)
    return write_log(path, heapq.merge(*runs, key=_order))
