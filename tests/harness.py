"""A tiny bytewax-style harness for the pure core: a list of inputs → everything emitted."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from leadstream.core.apply import apply
from leadstream.core.emitted import Delete, Emitted, Send, Transition
from leadstream.core.messages import Message
from leadstream.core.model import ModelSet, ScoringModel
from leadstream.core.state import LeadState

__all__ = ["run", "transitions"]


def run(
    messages: Iterable[Message], model: ScoringModel | ModelSet, *,
    states: dict[str, LeadState] | None = None, erased: dict[str, int] | None = None,
) -> tuple[dict[str, LeadState], list[Emitted]]:
    """Apply every message to its lead in order; return final states and all emitted items.

    Like the worker, messages the core sends to other leads (``Send``) are delivered, each
    after the message that sent it (as if every lead had its own partition), and ``Delete``
    removes a lead (``erased`` keeps its erasure count, as the worker's tombstone does).
    ``states`` and ``erased`` continue from an earlier run.
    """
    states = {} if states is None else states
    erased = {} if erased is None else erased
    emitted: list[Emitted] = []
    for message in messages:
        queue: deque[Message] = deque([message])
        while queue:
            current = queue.popleft()
            state, out = apply(states.get(current.lead_id), current, model,
                               generation=erased.get(current.lead_id, 0))
            if state is not None:
                states[current.lead_id] = state
            for item in out:
                if isinstance(item, Send):
                    queue.append(item.message)
                elif isinstance(item, Delete):
                    states.pop(item.lead_id, None)
                    # what the worker's tombstone keeps: the erasure count of the id
                    erased[item.lead_id] = item.generation
            emitted.extend(out)
    return states, emitted


def transitions(emitted: Iterable[Emitted], *, updates: bool = False) -> list[tuple[str, str, str]]:
    """``(from, to, reason)`` of each transition, in order; ``lead_changed`` updates (which follow
    most touchpoints of a known lead) only with ``updates``."""
    return [(e.from_stage, e.to_stage, e.reason) for e in emitted
            if isinstance(e, Transition) and (updates or e.reason != "lead_changed")]
