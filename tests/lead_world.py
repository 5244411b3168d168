"""A small world of lead-messages records for the lead planner: dicts as tables, a queue as the
topic. Each batch is planned with ``plan_batch``, its writes carried out, and what it sends to
other ids queued behind, in batches of varying size, as the worker does (one partition)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import orjson

from leadstream.agents.leads.plan import DEADLINES, LEADS, STATS, LeadPlan, LeadTopics, plan_batch
from leadstream.agents.leads.shadow import SHADOW
from leadstream.core.messages import Message, Tick
from leadstream.core.model import ModelSet
from leadstream.core.state import LeadState
from leadstream.streams.encoding.codecs import decode_state, encode_message
from leadstream.streams.services.deadlines import decode_deadline

TOPICS = LeadTopics(handover="handover", lead_messages="lead-messages", dlq="dlq",
                    nurture="nurture", account_messages="account-messages", shadow="shadow")

@dataclass(frozen=True)
class Record:
    key: bytes
    value: bytes
    offset: int
    topic: str = "lead-messages"
    partition: int = 0
    timestamp: int = 1_700_000_000_000
    headers: tuple[tuple[str, bytes], ...] = ()


#: DLQ fields that differ with shadows: the wall-clock time, and an internal record's bytes (a
#: hand-over carries the shadows' states)
_VARIES = ("rejected_at", "value_b64")


def _comparable(value: bytes) -> dict[str, object]:
    return {k: v for k, v in orjson.loads(value).items() if k not in _VARIES}


class World:
    """The lead tables as dicts, a queue of lead-messages records, and every record produced."""

    def __init__(self, primary: ModelSet, shadows: tuple[ModelSet, ...] = ()) -> None:
        self.primary = primary
        self.shadows = shadows
        self.tables: dict[str, dict[bytes, bytes]] = {LEADS: {}, DEADLINES: {}, STATS: {},
                                                      SHADOW: {}}
        self.queue: deque[Record] = deque()
        self.offset = 0
        self.produced: list[tuple[str, bytes | None, bytes]] = []

    def cached(self, key: bytes) -> LeadState | None:
        return None  # always from the tables: a cache only saves decoding

    def stored(self, table: str, key: bytes) -> bytes | None:
        return self.tables[table].get(key)

    def send(self, message: Message) -> None:
        self.queue.append(Record(message.lead_id.encode(), encode_message(message), self.offset))
        self.offset += 1

    def run(self, batch_sizes: list[int] | None = None) -> None:
        sizes = deque(batch_sizes or [1])
        for _ in range(3_000):
            if not self.queue:
                return
            n = sizes[0]
            sizes.rotate(-1)
            batch = [self.queue.popleft() for _ in range(min(n, len(self.queue)))]
            self._carry_out(plan_batch(batch, self, self.primary, TOPICS, 0, self.shadows))
        raise AssertionError("the messages never settle")

    def tick_until(self, now: float) -> None:
        """What the worker's timer does until ``now``: every lead whose deadline is due gets a
        tick with the id and time the timer gives it, earliest first, until none is due."""
        for _ in range(1_000):
            due = sorted((decode_deadline(raw), key) for key, raw in self.tables[DEADLINES].items()
                         if decode_deadline(raw) <= now)
            if not due:
                return
            for at, key in due:
                self.send(Tick(f"due:{at!r}", key.decode(), at))
            self.run()
        raise AssertionError("the deadlines never settle")

    def _carry_out(self, plan: LeadPlan) -> None:
        for out in plan.first:
            self._produce(out.topic, out.key, out.value)
        for key, value in plan.shadow.first:
            self._produce("shadow", key, value)
        for write in plan.writes:
            if write.value is None:
                self.tables[write.table].pop(write.key, None)
            else:
                self.tables[write.table][write.key] = write.value
        for key, state in plan.shadow.writes:
            if state is None:
                self.tables[SHADOW].pop(key, None)
            else:
                self.tables[SHADOW][key] = state
        for out in plan.outputs:
            self._produce(out.topic, out.key, out.value)
        for key, value in plan.shadow.outputs:
            self._produce("shadow", key, value)

    def _produce(self, topic: str, key: bytes | None, value: bytes) -> None:
        self.produced.append((topic, key, value))
        if topic == "lead-messages":
            self.queue.append(Record(key or b"", value, self.offset))
            self.offset += 1

    def on(self, topic: str) -> list[dict[str, object]]:
        """The records produced to ``topic`` (without a DLQ record's wall-clock time)."""
        return [_comparable(value) for t, _, value in self.produced if t == topic]

    def by_key(self, topic: str) -> dict[bytes | None, list[dict[str, object]]]:
        """:meth:`on` per record key, each key's records in the order produced (the order a
        consumer of one partition sees; records of different leads have none between them)."""
        out: dict[bytes | None, list[dict[str, object]]] = {}
        for t, key, value in self.produced:
            if t == topic:
                out.setdefault(key, []).append(_comparable(value))
        return out

    def stages(self, table: str = LEADS, name: str = "test") -> dict[str, str]:
        out = {}
        for key, raw in self.tables[table].items():
            if key.startswith(b"\x00"):
                continue  # an erasure record
            if table == SHADOW:
                model, _, key = key.partition(b"\x00")
                if model.decode() != name:
                    continue
            state = decode_state(raw)
            out[key.decode()] = state.merged_into and f"-> {state.merged_into}" or state.stage
        return out
