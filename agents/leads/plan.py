"""Plan one lead-messages batch: apply the core to each message and say what must happen.

Pure: it reads stored state through a :class:`LeadStore` and returns a :class:`LeadPlan`; it
sends nothing, writes nothing, reads no clock and touches no metric. The handler
(``agents/leads/handler.py``) carries the plan out through the fetch's ``FetchCommit``.

Within a batch each lead's state is decoded once, updated by every message in order, and written
once at the end. What the plan asks for, in the commit order:

1. ``first``: messages to other ids that this state must not outrun (a visitor's hand-over to its
   lead), erasure events, and what the state does not keep for a replay to publish again
   (``lead_changed`` updates, ``stalled`` nurture signals);
2. ``writes``: the changed leads' states, their deadlines and the partition's funnel counts;
   then ``cache``, ``dropped`` and ``due``, the in-memory views of those writes;
3. ``outputs``: handovers, forwarded lead messages and DLQ records, in the order they arose.

A message that makes the core fail (a poison record) goes to the DLQ as ``internal_error`` and
the batch goes on: its lead's state is rebuilt from the stored one and the batch's earlier
messages for it, since ``apply`` may have changed the state in place before it failed.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Protocol

import orjson

from leadstream.agents.dlq import OriginRecord, dlq_value
from leadstream.agents.leads.shadow import ShadowPlan, ShadowPlanner
from leadstream.core.accounts import contact_updates
from leadstream.core.apply import apply, next_deadline
from leadstream.core.emitted import (
    ConsentChanged,
    Counted,
    NurtureSignal,
    Delete,
    Duplicate,
    Erased,
    LeadsMerged,
    Rejected,
    Send,
    Transition,
    kept_for_replay,
)
from leadstream.core.identity_flow import event_id_of
from leadstream.core.messages import (
    Absorb,
    Feedback,
    Link,
    MergeOffer,
    MergeRequest,
    Message,
    Retire,
    Tick,
    Touchpoint,
)
from leadstream.core.model import ModelSet
from leadstream.core.scoring import behaviour_score
from leadstream.core.state import LeadState
from leadstream.exceptions import StateVersionError
from leadstream.streams.encoding.codecs import (
    decode_generation,
    decode_message,
    decode_state,
    encode_generation,
    encode_message,
    encode_state,
    erased_key,
)
from leadstream.streams.encoding.mappers import (
    consent_to_handover,
    erased_to_handover,
    nurture_to_event,
    merged_to_handover,
    transition_to_handover_json,
)
from leadstream.streams.services.deadlines import decode_deadline, encode_deadline, index_update
from leadstream.streams.services.funnel import (
    Bucket,
    bucket_of,
    decode_counts,
    encode_counts,
    shift,
    stats_key,
)

if TYPE_CHECKING:
    from leadstream.streams.lane.registry import InputRecord

__all__ = [
    "DEADLINES",
    "LEADS",
    "STATS",
    "BatchCounts",
    "LeadPlan",
    "LeadStore",
    "LeadTopics",
    "Out",
    "Poison",
    "Rejection",
    "Write",
    "plan_batch",
]

#: the tables a plan reads and writes (one partition of each)
LEADS: Final = "leads"
DEADLINES: Final = "deadlines"
STATS: Final = "stats"


class LeadStore(Protocol):
    """The stored state of one partition, as the planner reads it."""

    def cached(self, key: bytes) -> LeadState | None:
        """The state the handler last wrote for ``key``, if still decoded in memory."""

    def stored(self, table: str, key: bytes) -> bytes | None:
        """``key``'s value in ``table`` (``LEADS``, ``DEADLINES`` or ``STATS``)."""


@dataclass(frozen=True, slots=True)
class LeadTopics:
    handover: str
    lead_messages: str
    dlq: str
    nurture: str
    account_messages: str
    shadow: str = "lead-handover-shadow"  # shadow models' transitions (agents/leads/shadow.py)


@dataclass(frozen=True, slots=True)
class Out:
    """A record to produce (partitioned by key)."""

    topic: str
    key: bytes | None
    value: bytes


@dataclass(frozen=True, slots=True)
class Write:
    """A table write: ``value`` ``None`` deletes the key."""

    table: str
    key: bytes
    value: bytes | None


@dataclass(frozen=True, slots=True)
class Rejection:
    """An input record sent to the DLQ (its DLQ record is among the outputs)."""

    record: InputRecord
    kind: str
    reason: str


@dataclass(frozen=True, slots=True)
class Poison:
    """An input record the core failed on (also a :class:`Rejection`)."""

    record: InputRecord
    error: Exception


@dataclass(slots=True)
class BatchCounts:
    """What the batch did, for the metrics (counted once per batch, not per message)."""

    touchpoints: Counter[tuple[str, str]] = field(default_factory=Counter)  # (type, outcome)
    transitions: Counter[tuple[str, str]] = field(default_factory=Counter)  # (from, to)
    identity_messages: Counter[str] = field(default_factory=Counter)  # note
    identity_events: Counter[str] = field(default_factory=Counter)  # kind
    consent: Counter[tuple[str, str]] = field(default_factory=Counter)  # (scope, status)
    nurture: Counter[str] = field(default_factory=Counter)  # signal
    by_source: Counter[tuple[str, str]] = field(default_factory=Counter)  # (source type, to)
    cache_hits: int = 0
    cache_misses: int = 0
    #: each scored lead's behaviour score after the batch, as of its last scored touchpoint
    scores: list[float] = field(default_factory=list)
    #: (event time, ingest time in ms or None) of each message that triggered a transition
    latencies: list[tuple[float, int | None]] = field(default_factory=list)


@dataclass(slots=True)
class LeadPlan:
    first: list[Out] = field(default_factory=list)
    writes: list[Write] = field(default_factory=list)
    cache: dict[bytes, LeadState] = field(default_factory=dict)
    dropped: list[bytes] = field(default_factory=list)
    due: list[tuple[bytes, float]] = field(default_factory=list)
    outputs: list[Out] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    poison: list[Poison] = field(default_factory=list)
    #: (key, touchpoint event id, offset) of every message ingest may have sent to a visitor
    reached: list[tuple[bytes, str, int]] = field(default_factory=list)
    counts: BatchCounts = field(default_factory=BatchCounts)
    #: what the shadow models did (empty without shadow models)
    shadow: ShadowPlan = field(default_factory=ShadowPlan)


def _origin(message: Message, kind: str) -> Mapping[str, Any] | None:
    """The input record a refusal of ``kind`` is about, when the message carries it."""
    if kind == "too_late":  # the touchpoint itself, or the one a link or hand-over brings
        touchpoint = (message.touchpoint if isinstance(message, Link)
                      else message.then if isinstance(message, Absorb) else message)
        return touchpoint.origin if isinstance(touchpoint, Touchpoint) else None
    if isinstance(message, Feedback | MergeRequest | MergeOffer | Retire | Absorb):
        return message.origin
    return None


class _Gone:
    """A state deleted in this batch (an erasure)."""


_GONE: Final = _Gone()

Slot = LeadState | None | _Gone


def plan_batch(records: list[InputRecord], store: LeadStore, models: ModelSet,
               topics: LeadTopics, partition: int,
               shadows: tuple[ModelSet, ...] = ()) -> LeadPlan:
    """The plan for one batch of one lead-messages ``partition``, in offset order; ``shadows``
    are applied beside the primary (core/shadow.py).

    Raises :class:`StateVersionError` for a state written by a newer build (nothing of the batch
    may then be written)."""
    return _Planner(store, models, topics, partition, shadows).run(records)


class _Planner:
    def __init__(self, store: LeadStore, models: ModelSet, topics: LeadTopics,
                 partition: int, shadows: tuple[ModelSet, ...] = ()) -> None:
        self.shadow = ShadowPlanner(shadows, store) if shadows else None
        self.store = store
        self.models = models
        self.topics = topics
        self.partition = partition
        self.plan = LeadPlan()
        self.states: dict[bytes, Slot] = {}
        self.before: dict[bytes, Bucket | None] = {}  # key → funnel bucket before this batch
        self.account_before: dict[bytes, str | None] = {}  # key → its account before this batch
        self.changed: dict[bytes, bool] = {}  # key → whether a tick changed it (deadline exact)
        self.erasures: dict[bytes, int] = {}  # key → erasure count (read when it has no state)
        self.scored_at: dict[bytes, float] = {}  # key → time of its last scored touchpoint
        self.from_cache: set[bytes] = set()
        # offsets of this batch's records that failed (a failure rebuilds the state from these
        # records rather than from a list of applied messages per key, which would keep every
        # message of a backlog fetch alive)
        self.failed: set[int] = set()

    def run(self, records: list[InputRecord]) -> LeadPlan:
        for record in records:
            self._apply(record, records)
        self._finish()
        return self.plan

    def _load(self, key: bytes) -> Slot:
        if key not in self.states:
            state = self.store.cached(key)
            if state is None:
                state = self._stored(key)
            else:
                self.from_cache.add(key)
            self.states[key] = state
            self.before[key] = bucket_of(state, self.models) if state is not None else None
            self.account_before[key] = state.account if state is not None else None
        return self.states[key]

    def _stored(self, key: bytes) -> LeadState | None:
        raw = self.store.stored(LEADS, key)
        return decode_state(raw) if raw is not None else None

    def _generation(self, key: bytes) -> int:
        """How often ``key`` was erased before: a new state for it starts there."""
        if key not in self.erasures:
            self.erasures[key] = decode_generation(self.store.stored(LEADS, erased_key(key)))
        return self.erasures[key]

    def _apply(self, record: InputRecord, records: list[InputRecord]) -> None:
        key = record.key or b""
        previous = self._load(key)
        try:
            message: Message = decode_message(record.value or b"")
            event_id = event_id_of(message)
            if event_id is not None:
                self.plan.reached.append((key, event_id, record.offset))
            current = previous if isinstance(previous, LeadState) else None
            if self.shadow is not None:
                self.shadow.load(key, current)
            generation = self._generation(key) if current is None else 0
            state, emitted = apply(current, message, self.models, generation=generation)
            if self.shadow is not None:
                emitted = self.shadow.apply(record, key, message, emitted, generation)
        except StateVersionError:
            raise  # a newer build's state (e.g. in a visitor's hand-over): stop, lose nothing
        except Exception as exc:  # a poison record must never stop the stream
            self.plan.poison.append(Poison(record, exc))
            self._reject(record, "internal_error", f"unexpected {type(exc).__name__} while applying",
                         hashlib.sha256(record.value or b"").hexdigest())
            self.failed.add(record.offset)
            self.states[key] = self._replayed(key, self._applied(records, record))
            return
        gone = False
        for item in emitted:
            match item:
                case Transition():
                    self._publish(item, Out(self.topics.handover, key,
                                            transition_to_handover_json(item)))
                    self.plan.counts.transitions[(item.from_stage, item.to_stage)] += 1
                    if item.kind == "stage_transition" and item.attribution:
                        self.plan.counts.by_source[(item.attribution["source_type"],
                                                    item.to_stage)] += 1
                    self._note_latency(item, message, record)
                case Counted():
                    self.plan.counts.touchpoints[(item.type, "scored")] += 1
                    if isinstance(message, Touchpoint):
                        self.scored_at[key] = message.occurred_at
                case Duplicate():
                    self.plan.counts.touchpoints[(item.type, "duplicate")] += 1
                case Send():
                    out = Out(self.topics.lead_messages, item.message.lead_id.encode(),
                              encode_message(item.message))
                    (self.plan.first if item.before_state else self.plan.outputs).append(out)
                    self.plan.counts.identity_messages[item.note] += 1
                case Erased():
                    self.plan.first.append(Out(self.topics.handover, item.lead_id.encode(),
                                               erased_to_handover(item).model_dump_json().encode()))
                    self.plan.counts.identity_events["erased"] += 1
                case Delete():
                    gone = True
                    self.erasures[key] = item.generation
                case Rejected():
                    self._reject(record, item.kind, item.reason, item.event_id,
                                 _origin(message, item.kind))
                case ConsentChanged():
                    self.plan.outputs.append(
                        Out(self.topics.handover, item.lead_id.encode(),
                            consent_to_handover(item).model_dump_json().encode()))
                    self.plan.counts.consent[(item.scope, item.status)] += 1
                case NurtureSignal():
                    self._publish(item, Out(self.topics.nurture, item.lead_id.encode(),
                                            nurture_to_event(item).model_dump_json().encode()))
                    self.plan.counts.nurture[item.signal] += 1
                case LeadsMerged():
                    self.plan.outputs.append(
                        Out(self.topics.handover, item.survivor.encode(),
                            merged_to_handover(item).model_dump_json().encode()))
                    self.plan.counts.identity_events["leads_merged"] += 1
        if gone:
            self.states[key] = _GONE
            self.changed[key] = True
        elif state is not None and state is previous and state.merged_into is not None \
                and key in self.from_cache:
            # A retired id forwarding input, from the cache: its state is unchanged, and this
            # process wrote it (the changelog record is written, or its failed send stopped the
            # worker, which took the cache with it). Unlike a state read from RocksDB, there is
            # no unsent changelog record to send again, so nothing to write.
            pass
        elif state is not None:
            # Kept (and rewritten) on duplicates too: after a crash the local store may hold an
            # update whose changelog record was never sent; rewriting sends it.
            self.states[key] = state
            self.changed[key] = self.changed.get(key, False) or isinstance(message, Tick)

    def _next_deadline(self, key: bytes, state: LeadState) -> float | None:
        due = next_deadline(state, self.models)
        if self.shadow is None:
            return due
        shadow_due = self.shadow.next_deadline(key)
        return shadow_due if due is None or (shadow_due is not None and shadow_due < due) else due

    def _publish(self, item: Transition | NurtureSignal, out: Out) -> None:
        """An event the state keeps nothing of for a replay must be in Kafka before that state
        is stored (a crash in between decides it again from the earlier state)."""
        (self.plan.outputs if kept_for_replay(item) else self.plan.first).append(out)

    def _note_latency(self, item: Transition, message: Message, record: InputRecord) -> None:
        source = message.then if isinstance(message, Absorb) else message
        if isinstance(source, Tick):
            return
        if item.trigger_event_id in (getattr(source, "event_id", None),
                                     getattr(source, "feedback_id", None)):
            self.plan.counts.latencies.append((source.occurred_at, record.timestamp or None))

    def _reject(self, record: InputRecord, kind: str, reason: str, rejected_id: str,
                origin: Mapping[str, Any] | None = None) -> None:
        """The DLQ record of ``record``: the producer's own record where the message carries it
        (verdicts, merge commands), else the internal one."""
        source: InputRecord = OriginRecord.of(origin) if origin is not None else record
        self.plan.outputs.append(Out(self.topics.dlq, source.key, dlq_value(
            source, stage="leads", kind=kind, reason=reason, rejected_id=rejected_id)))
        self.plan.rejected.append(Rejection(record, kind, reason))

    def _applied(self, records: list[InputRecord], failing: InputRecord) -> Iterator[Message]:
        """The messages of ``failing``'s key that this batch applied before it."""
        for record in records:
            if record.offset >= failing.offset:
                return
            if record.key == failing.key and record.offset not in self.failed:
                yield decode_message(record.value or b"")

    def _replayed(self, key: bytes, messages: Iterable[Message]) -> Slot:
        state: Slot = self._stored(key)
        generation = decode_generation(self.store.stored(LEADS, erased_key(key)))
        for message in messages:
            current = state if isinstance(state, LeadState) else None
            state, emitted = apply(current, message, self.models,
                                   generation=generation if current is None else 0)
            for item in emitted:
                if isinstance(item, Delete):
                    state, generation = _GONE, item.generation
        if state is _GONE:
            self.erasures[key] = generation
        return state

    def _tell_account(self, key: bytes, state: Slot) -> None:
        """The lead's account hears what it is now, before the state that says it was told is
        stored (a crash in between tells it again; the account keeps the newest version)."""
        before = self.account_before.get(key)
        if before is None and not self.models.accounts.enabled:
            return
        current = state if isinstance(state, LeadState) else None
        for update in contact_updates(key.decode(), before, current, self.models.primary,
                                      self.models.accounts):
            self.plan.first.append(Out(self.topics.account_messages, update.account_id.encode(),
                                       orjson.dumps(update.to_primitive())))

    def _finish(self) -> None:
        plan, counts = self.plan, self.plan.counts
        primary = self.models.primary
        for key, at in self.scored_at.items():  # once per lead and batch: its score after it
            state = self.states[key]
            if isinstance(state, LeadState):
                counts.scores.append(
                    behaviour_score(state.components.get(primary.name, {}), primary, at))
        counts.cache_hits = len(self.from_cache)
        counts.cache_misses = len(self.states) - len(self.from_cache)
        funnel = None
        for key, tick in self.changed.items():
            state = self.states[key]
            self._tell_account(key, state)
            if isinstance(state, LeadState):
                plan.writes.append(Write(LEADS, key, encode_state(state)))
                plan.cache[key] = state
                after = bucket_of(state, self.models)
                live = state.merged_into is None
            else:
                plan.writes.append(Write(LEADS, key, None))
                plan.writes.append(Write(LEADS, erased_key(key),
                                         encode_generation(self.erasures.get(key, 1))))
                plan.dropped.append(key)
                after = None
                live = False
            stored = self.store.stored(DEADLINES, key)
            moved, due = index_update(
                decode_deadline(stored) if stored is not None else None,
                self._next_deadline(key, state) if live and isinstance(state, LeadState)
                else None,
                after_tick=tick or not live,
            )
            if moved:
                if due is None:
                    plan.writes.append(Write(DEADLINES, key, None))
                else:
                    plan.writes.append(Write(DEADLINES, key, encode_deadline(due)))
                    plan.due.append((key, due))
            if after != self.before[key]:
                if funnel is None:
                    funnel = decode_counts(self.store.stored(STATS, stats_key(self.partition)))
                shift(funnel, self.before[key], after)
        if funnel is not None:
            plan.writes.append(Write(STATS, stats_key(self.partition), encode_counts(funnel)))
        if self.shadow is not None:
            plan.shadow = self.shadow.finish()
