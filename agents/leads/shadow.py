"""The lead planner's shadow models (``core/shadow.py``): their states, transitions and writes.

Each shadow's state of a lead lives in the ``shadow`` table under ``<model name> NUL <lead id>``,
on the lead's partition, and is written with the primary's in the same batch, so a crash
replays both from the same offsets. The lead's entry in the deadlines table is the earliest of the
primary's and its shadows' deadlines: the timer's tick then reaches every model when its own
deadline is due (a tick before a model's deadline changes nothing of it). Shadow transitions go
to the shadow topic in the order the primary's go to the handover topic (one kept in the state's
outbox after the state, one kept nowhere before it). A shadow that fails on a message is logged
and counted; the primary's plan does not change, and that lead's shadow state is read again from
the table.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, Protocol

from leadstream.core.apply import apply, next_deadline
from leadstream.core.emitted import Delete, Emitted, Transition, kept_for_replay
from leadstream.core.messages import Message
from leadstream.core.model import ModelSet
from leadstream.core.shadow import attach_states, seed, shadow_input
from leadstream.core.state import LeadState
from leadstream.streams.encoding.codecs import decode_state, encode_state, shadow_key
from leadstream.streams.encoding.mappers import transition_to_handover_json

if TYPE_CHECKING:
    from leadstream.streams.lane.registry import InputRecord

__all__ = ["SHADOW", "ShadowFailure", "ShadowPlan", "ShadowPlanner"]

#: the table of shadow states (one partition per lead-messages partition)
SHADOW: Final = "shadow"


class _Store(Protocol):
    def stored(self, table: str, key: bytes) -> bytes | None: ...


@dataclass(frozen=True, slots=True)
class ShadowFailure:
    record: InputRecord
    model: str
    error: Exception


@dataclass(slots=True)
class ShadowPlan:
    """The shadows' part of a batch's plan."""

    first: list[tuple[bytes, bytes]] = field(default_factory=list)  # (key, value) before states
    outputs: list[tuple[bytes, bytes]] = field(default_factory=list)  # (key, value) after them
    writes: list[tuple[bytes, bytes | None]] = field(default_factory=list)  # shadow table
    transitions: Counter[tuple[str, str]] = field(default_factory=Counter)  # (model, to stage)
    failures: list[ShadowFailure] = field(default_factory=list)


class _Gone:
    """A shadow state deleted in this batch (an erasure)."""


_GONE: Final = _Gone()


class ShadowPlanner:
    def __init__(self, shadows: tuple[ModelSet, ...], store: _Store) -> None:
        self.shadows = shadows
        self.store = store
        self.plan = ShadowPlan()
        self.states: dict[bytes, LeadState | None | _Gone] = {}
        self.changed: dict[bytes, None] = {}  # shadow keys to write, in first-change order

    def load(self, key: bytes, primary: LeadState | None) -> None:
        """Read each shadow's state of ``key`` (call before the primary applies a message: a
        lead the shadow has not seen starts from the primary's state as it was)."""
        for models in self.shadows:
            skey = shadow_key(models.primary.name, key)
            if skey not in self.states:
                self.states[skey] = self._stored(skey, primary)

    def _stored(self, skey: bytes, primary: LeadState | None) -> LeadState | None:
        raw = self.store.stored(SHADOW, skey)
        return decode_state(raw) if raw is not None else seed(primary)

    def apply(self, record: InputRecord, key: bytes, message: Message, emitted: list[Emitted],
              generation: int) -> list[Emitted]:
        """Apply ``message`` to every shadow; return the primary's events with the shadows'
        states attached to its hand-overs."""
        primary_gone = any(isinstance(item, Delete) for item in emitted)
        for models in self.shadows:
            name = models.primary.name
            skey = shadow_key(name, key)
            if primary_gone:
                self.states[skey] = _GONE
                self.changed[skey] = None
                continue
            applied = shadow_input(message, emitted, name)
            if applied is None:
                continue
            slot = self.states[skey]
            current = slot if isinstance(slot, LeadState) else None
            try:
                state, shadow_emitted = apply(current, applied, models,
                                              generation=generation if current is None else 0)
            except Exception as exc:  # a candidate model must never stop the primary
                self.plan.failures.append(ShadowFailure(record, name, exc))
                self.states[skey] = self._stored(skey, None)
                self.changed.pop(skey, None)
                continue
            emitted = attach_states(emitted, shadow_emitted, name)
            for item in shadow_emitted:
                if isinstance(item, Transition):
                    out = (key, transition_to_handover_json(item))
                    (self.plan.outputs if kept_for_replay(item) else self.plan.first).append(out)
                    if item.kind == "stage_transition":
                        self.plan.transitions[(name, item.to_stage)] += 1
            if state is not None:
                self.states[skey] = state
                self.changed[skey] = None
        return emitted

    def next_deadline(self, key: bytes) -> float | None:
        """The earliest time a tick would change a shadow's state of ``key`` (of the shadows
        this batch loaded it for): the lead's timer fires then too, so a shadow goes cold or
        breaches its SLA when it would as the primary."""
        due = [at for models in self.shadows
               if isinstance(state := self.states.get(shadow_key(models.primary.name, key)),
                             LeadState)
               and state.merged_into is None
               and (at := next_deadline(state, models)) is not None]
        return min(due) if due else None

    def finish(self) -> ShadowPlan:
        for skey in self.changed:
            state = self.states[skey]
            self.plan.writes.append(
                (skey, encode_state(state) if isinstance(state, LeadState) else None))
        return self.plan
