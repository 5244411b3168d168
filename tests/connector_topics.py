"""Handover topics a worker could have written, for the connector's tests: per lead, sequences
rise in partition order, except for copies a crashed worker published again later; merges and erasures are keyed by the surviving lead; an erased person may
come back with new transition ids; and deliveries of such a topic as a consumer meets them
(partitions interleaved any way, a partition's records re-delivered from an earlier offset)."""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from hypothesis import strategies as st

from leadstream.connector.events import (
    ConsentEvent,
    EngagedContact,
    EngagementEvent,
    ErasureEvent,
    HandoverEvent,
    LeadEvent,
    MergeEvent,
)

__all__ = ["PARTITIONS", "Topic", "deliveries", "lead_event", "partition_of", "topics"]

PARTITIONS = 3
_START = datetime(2026, 11, 1, tzinfo=UTC)
_STAGES = ("mgl", "mql", "sal", "sql")


def partition_of(key: str) -> int:
    return zlib.crc32(key.encode()) % PARTITIONS


@dataclass
class Topic:
    partitions: dict[int, list[HandoverEvent]] = field(
        default_factory=lambda: {p: [] for p in range(PARTITIONS)})

    def add(self, key: str, event: HandoverEvent) -> None:
        self.partitions[partition_of(key)].append(event)

    def in_order(self) -> list[HandoverEvent]:
        return [e for p in sorted(self.partitions) for e in self.partitions[p]]


def lead_event(lead_id: str, sequence: int, at: datetime, *, generation: int = 0,
               owner: str = "ana", score: float = 10.0) -> LeadEvent:
    stage = _STAGES[min(sequence - 1, len(_STAGES) - 1)]
    return LeadEvent(
        transition_id=f"t-{lead_id}-{generation}-{sequence}", lead_id=lead_id, sequence=sequence,
        kind="stage_transition", from_stage="visitor", to_stage=stage, reason="score_threshold",
        detail=None, occurred_at=at, trigger_event_id=f"e-{lead_id}-{sequence}",
        trigger_type="form_submit", score=score, grade="B", fit_points=30.0, matrix="B2",
        temperature="warm", bant_status="open", team="dach", owner=owner,
        profile={"company": f"Firm {lead_id}", "job_title": "CTO"}, bant={"timeline": "quarter"},
        attribution={"source_type": "nets", "first_touch": None}, account_id="acme.example",
        model_name="default", model_version="1")


@st.composite
def topics(draw: st.DrawFn, leads: int = 4, steps: int = 18) -> Topic:
    ids = [f"L{i}" for i in range(leads)]
    topic = Topic()
    sequence = dict.fromkeys(ids, 0)
    generation = dict.fromkeys(ids, 0)
    absorbed_into: dict[str, str] = {}
    erased: set[str] = set()
    at = _START
    n = 0
    for _ in range(draw(st.integers(1, steps))):
        at += timedelta(minutes=draw(st.integers(1, 30)))
        n += 1
        alive = [i for i in ids if i not in absorbed_into]
        action = draw(st.sampled_from(("touch", "touch", "touch", "consent", "merge", "erase",
                                       "engage", "republish", "republish")))
        lead = draw(st.sampled_from(alive))
        if action == "republish":
            # a worker that crashed publishes again what it had published since its last
            # commit: a copy lands after newer records of its partition
            partition = topic.partitions[partition_of(lead)]
            older = [e for e in partition if isinstance(e, LeadEvent)] or partition
            if older:
                partition.append(draw(st.sampled_from(older)))
        elif action == "touch" or lead in erased:
            erased.discard(lead)
            sequence[lead] += 1
            topic.add(lead, lead_event(lead, sequence[lead], at, generation=generation[lead],
                                       owner=draw(st.sampled_from(("ana", "ben"))),
                                       score=float(draw(st.integers(0, 90)))))
        elif action == "consent" and sequence[lead]:
            topic.add(lead, ConsentEvent(f"c{n}", lead, draw(st.sampled_from(("newsletter", "all"))),
                                         draw(st.sampled_from(("opted_in", "opted_out"))), at))
        elif action == "merge" and len(alive) > 1 and sequence[lead]:
            other = draw(st.sampled_from([i for i in alive if i != lead and sequence[i]] or [lead]))
            if other != lead:
                absorbed_into[other] = lead
                topic.add(lead, MergeEvent(f"m{n}", lead, other, "explicit", at))
        elif action == "erase" and sequence[lead]:
            aliases = tuple(sorted(a for a, s in absorbed_into.items() if _root(absorbed_into, a) == lead))
            topic.add(lead, ErasureEvent(f"x{n}", lead, aliases, at))
            for alias in aliases:  # an erased alias is a new person when it comes back
                del absorbed_into[alias]
                sequence[alias] = 0
                generation[alias] += 1
                erased.add(alias)
            sequence[lead] = 0
            generation[lead] += 1
            erased.add(lead)
        elif action == "engage":
            contacts = tuple(EngagedContact(i, 20.0, "B", "mql", "CTO")
                             for i in alive if sequence[i] and i not in erased)
            if contacts:
                topic.add("acme.example", EngagementEvent(f"g{n}", "acme.example", n, 40.0, "B",
                                                          at, contacts))
    return topic


def _root(absorbed_into: dict[str, str], lead: str) -> str:
    while lead in absorbed_into:
        lead = absorbed_into[lead]
    return lead


@st.composite
def deliveries(draw: st.DrawFn, topic: Topic) -> list[HandoverEvent]:
    """The topic as one consumer meets it: partitions interleaved, some re-delivered from an
    earlier offset after the consumer has read further (as after a crash before its commit)."""
    queues = {p: list(events) for p, events in topic.partitions.items() if events}
    read = dict.fromkeys(queues, 0)
    out: list[HandoverEvent] = []
    while any(read[p] < len(q) for p, q in queues.items()):
        p = draw(st.sampled_from(sorted(p for p, q in queues.items() if read[p] < len(q))))
        out.append(queues[p][read[p]])
        read[p] += 1
        if draw(st.integers(0, 9)) == 0:
            read[p] = draw(st.integers(0, read[p]))
    return out
