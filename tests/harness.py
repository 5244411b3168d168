"""A tiny bytewax-style harness for the pure core: a list of inputs → everything emitted."""

from __future__ import annotations

from collections.abc import Iterable

from leadstream.core.apply import apply
from leadstream.core.emitted import Emitted, Transition
from leadstream.core.messages import Touchpoint
from leadstream.core.model import ScoringModel
from leadstream.core.state import LeadState

__all__ = ["run", "transitions"]


def run(
    messages: Iterable[Touchpoint], model: ScoringModel
) -> tuple[dict[str, LeadState], list[Emitted]]:
    """Apply every message to its lead in order; return final states and all emitted items."""
    states: dict[str, LeadState] = {}
    emitted: list[Emitted] = []
    for message in messages:
        state, out = apply(states.get(message.lead_id), message, model)
        states[message.lead_id] = state
        emitted.extend(out)
    return states, emitted


def transitions(emitted: Iterable[Emitted]) -> list[tuple[str, str, str]]:
    """``(from, to, reason)`` of each transition, in order."""
    return [(e.from_stage, e.to_stage, e.reason) for e in emitted if isinstance(e, Transition)]
