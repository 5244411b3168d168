"""The pure core over a log, for several model sets at once, as a worker applies it.

Each record is decoded once, as the input agents decode it (``InputDecoder``: parsing, hygiene,
routing); a rejected record is counted by kind. The message is then applied to every model set's
own leads, with what the core sends one lead for another (a visitor's hand-over, merges,
erasures) delivered right after it, as the worker does once every lead involved is caught up.

Time passes in event time: the replay's clock is the latest event time any record of the log
has named so far (read from its ``occurred_at`` or ``issued_at``, valid record or not, so that a
replay split by person keeps the same clock in every part). With ``ticks`` on, before a message
is applied every lead whose deadline (SLA, going cold, a stall, a held-back update) is at or
before the clock is ticked, with the id and time a worker's timer gives such a tick; at the end,
leads are ticked up to the clock. A worker ticks in wall-clock time instead, so a replay
with ticks is what the log would have done had it arrived as it happened; without ticks it is
exactly what a worker with ``ticks.enabled: false`` computes.
"""

from __future__ import annotations

import gc
import heapq
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from leadstream.backtest.records import LogRecord
from leadstream.config.settings import HygieneSettings
from leadstream.core.accounts import registered_account
from leadstream.core.apply import apply, next_deadline
from leadstream.core.emitted import Delete, Rejected, Send, Transition
from leadstream.core.lifecycle import standing
from leadstream.core.messages import Erase, Feedback, Link, Message, MergeRequest, Tick, Touchpoint
from leadstream.core.model import ModelSet
from leadstream.core.stages import Stage
from leadstream.core.state import LeadState
from leadstream.exceptions import RejectedMessage
from leadstream.streams.encoding.inputs import InputDecoder

__all__ = ["Replay", "ModelOutcome", "LeadSummary", "TransitionRow", "event_time", "named_time",
           "no_cyclic_gc"]

#: (transition id, lead id, kind, from stage, to stage, reason, event time)
TransitionRow = tuple[str, str, str, str, str, str, float]
_TOP = 5


@dataclass(frozen=True, slots=True)
class LeadSummary:
    """A known lead at the end of a replay, under one model set."""

    stage: str
    grade: str
    matrix: str
    score: float
    first_mql_at: float | None
    top: tuple[tuple[str, float], ...]  # the largest contributions (rule, points)


@dataclass
class ModelOutcome:
    """What one model set made of the log (picklable: worker processes send it back)."""

    name: str
    version: str
    transitions: list[TransitionRow] = field(default_factory=list)
    leads: dict[str, LeadSummary] = field(default_factory=dict)
    rejected: Counter[str] = field(default_factory=Counter)  # by the core: kind

    def merge(self, other: ModelOutcome) -> None:
        self.transitions += other.transitions
        self.leads.update(other.leads)
        self.rejected.update(other.rejected)


@contextmanager
def no_cyclic_gc() -> Iterator[None]:
    """A replay keeps every lead's state (a worker only a cache): ~30 containers per lead that
    a full collection scans, again and again, to find nothing (lead states hold no cycles). At
    100,000 people the collector took most of the time; the replay runs without it."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def named_time(data: Any) -> float | None:
    """The event time a record's parsed JSON names (``occurred_at``, or a command's
    ``issued_at``), unvalidated; ``None`` if it names none that can be read."""
    try:
        text = data.get("occurred_at") or data.get("issued_at")
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (AttributeError, TypeError, ValueError):
        return None
    return at.timestamp() if at.tzinfo is not None else None


def event_time(message: Message) -> float:
    if isinstance(message, Touchpoint | Feedback):
        return message.occurred_at
    if isinstance(message, Link):
        return message.touchpoint.occurred_at
    if isinstance(message, MergeRequest | Erase):
        return message.at
    raise TypeError(type(message).__name__)


class _Unset:
    """``Replay.feed`` without a clock from its caller."""


_UNSET = _Unset()


class _Leads:
    """One model set's leads, applied to as a worker would."""

    def __init__(self, models: ModelSet, ticks: bool) -> None:
        self.models = models
        self.ticks = ticks
        self.states: dict[str, LeadState] = {}
        self.erased: dict[str, int] = {}
        self.due: list[tuple[float, str]] = []  # (deadline, lead id), a heap; stale ones skipped
        self.deadlines: dict[str, float] = {}
        self.transitions: list[TransitionRow] = []
        self.rejected: Counter[str] = Counter()

    def apply(self, message: Message) -> None:
        queue = [message]
        while queue:
            current = queue.pop(0)
            lead = current.lead_id
            state, emitted = apply(self.states.get(lead), current, self.models,
                                   generation=self.erased.get(lead, 0))
            if state is not None:
                # as the lead handler registers it with its account: the states equal a worker's
                state.account = registered_account(state, self.models.accounts)
                self.states[lead] = state
            for item in emitted:
                if isinstance(item, Transition):
                    self.transitions.append((item.transition_id, item.lead_id, item.kind,
                                             item.from_stage, item.to_stage, item.reason,
                                             item.occurred_at))
                elif isinstance(item, Send):
                    queue.append(item.message)
                elif isinstance(item, Delete):
                    self.states.pop(item.lead_id, None)
                    self.erased[item.lead_id] = item.generation
                    self.deadlines.pop(item.lead_id, None)
                elif isinstance(item, Rejected):
                    self.rejected[item.kind] += 1
            if self.ticks:
                self._schedule(lead)

    def _schedule(self, lead: str) -> None:
        state = self.states.get(lead)
        due = (next_deadline(state, self.models)
               if state is not None and state.merged_into is None else None)
        if due is None:
            self.deadlines.pop(lead, None)
        elif self.deadlines.get(lead) != due:
            self.deadlines[lead] = due
            heapq.heappush(self.due, (due, lead))

    def tick_until(self, now: float) -> None:
        """Tick every lead whose deadline is at or before ``now``, earliest first."""
        while self.due and self.due[0][0] <= now:
            due, lead = heapq.heappop(self.due)
            if self.deadlines.get(lead) != due:
                continue  # moved or gone since it was scheduled
            del self.deadlines[lead]
            self.apply(Tick(f"due:{due!r}", lead, due))

    def outcome(self) -> ModelOutcome:
        primary = self.models.primary
        out = ModelOutcome(primary.name, primary.version, self.transitions, {}, self.rejected)
        first_mql: dict[str, float] = {}
        for _, lead, kind, _, to, _, at in self.transitions:
            if kind == "stage_transition" and to == Stage.MQL:
                first_mql[lead] = min(at, first_mql.get(lead, at))
        for lead, state in self.states.items():
            if state.merged_into is not None or state.stage == Stage.VISITOR:
                continue
            view = standing(state, self.models, state.last_event_at or 0.0)
            out.leads[lead] = LeadSummary(state.stage, view.grade, view.matrix, view.score,
                                          first_mql.get(lead),
                                          tuple((rule, round(points, 2))
                                                for rule, points in view.ranked[:_TOP]))
        return out


class Replay:
    """Feed records in log order; read each model set's :meth:`outcomes` at the end.

    The hygiene rules judge a record as ingest did when it arrived: "in the future" is measured
    from the record's Kafka timestamp (a record without one is never in the future)."""

    def __init__(self, model_sets: Iterable[ModelSet], hygiene: HygieneSettings,
                 max_message_bytes: int, *, ticks: bool = True, since: float | None = None,
                 until: float | None = None) -> None:
        self._leads = [_Leads(models, ticks) for models in model_sets]
        self._arrived = float("inf")
        self._decoder = InputDecoder(hygiene, max_message_bytes, clock=lambda: self._arrived)
        self.clock: float | None = None  # the latest event time the log named so far
        self._ticks = ticks
        self._since, self._until = since, until
        self.input_rejected: Counter[str] = Counter()  # "kind:dlq kind"
        self.outside_window = 0
        self.applied = 0
        self.last_event_at: float | None = None
        #: CRM verdicts in the log per lead, in order: what sales said, whatever the model
        self.verdicts: dict[str, list[str]] = {}

    @property
    def states(self) -> list[dict[str, LeadState]]:
        """Each model set's lead states (ids → state), as a worker's lead table holds them."""
        return [leads.states for leads in self._leads]

    def feed(self, record: LogRecord, *, clock: float | None | _Unset = _UNSET) -> None:
        """Take the record's time into the clock, decode it and apply it to every model set.

        ``clock``: the log's clock up to and including this record, when the caller knows it
        (a replay split over processes learns it in a first pass over the whole log)."""
        if isinstance(clock, _Unset):
            try:
                named = named_time(orjson.loads(record.value))
            except orjson.JSONDecodeError:
                named = None
            if named is not None and (self.clock is None or named > self.clock):
                self.clock = named
        else:
            self.clock = clock
        self._arrived = record.timestamp / 1000 if record.timestamp else float("inf")
        try:
            message = self._decoder.decode(record.kind, record.value)
        except RejectedMessage as rejected:
            self.input_rejected[f"{record.kind}:{rejected.kind}"] += 1
            return
        except Exception:  # a poison record: the worker dead-letters it and goes on
            self.input_rejected[f"{record.kind}:internal_error"] += 1
            return
        at = event_time(message)
        if (self._since is not None and at < self._since) or \
                (self._until is not None and at >= self._until):
            self.outside_window += 1
            return
        if isinstance(message, Feedback):
            self.verdicts.setdefault(message.lead_id, []).append(message.verdict)
        self.last_event_at = at if self.last_event_at is None else max(self.last_event_at, at)
        now = at if self.clock is None else max(self.clock, at)
        for leads in self._leads:
            if self._ticks:
                leads.tick_until(now)
            leads.apply(message)
        self.applied += 1

    def finish(self) -> None:
        """Let time run to the clock (with ticks on)."""
        end = max(t for t in (self.clock, self.last_event_at, float("-inf")) if t is not None)
        if self._ticks and end > float("-inf"):
            for leads in self._leads:
                leads.tick_until(end)

    def transitions(self, model: int = 0) -> list[TransitionRow]:
        """The transitions model set ``model`` made so far, in the order it made them."""
        return self._leads[model].transitions

    def outcomes(self) -> list[ModelOutcome]:
        return [leads.outcome() for leads in self._leads]
