"""Input records → core messages, as the input agents decode them (and the backtest replays them).

One place says what a record of each input topic becomes: a touchpoint is parsed, filtered by
the hygiene rules and routed (to its visitor first when it links one), a CRM verdict and an
operator command are parsed and mapped. Each raises :class:`RejectedMessage` (with the DLQ kind
and reason) for a record that must not reach a lead.
"""

from __future__ import annotations

from collections.abc import Callable

from leadstream.config.settings import HygieneSettings
from leadstream.core.messages import Erase, Feedback, Link, MergeRequest, Touchpoint
from leadstream.schemas.commands import parse_command
from leadstream.schemas.feedback import parse_feedback
from leadstream.schemas.touchpoints import parse_touchpoint
from leadstream.streams.encoding.mappers import command_to_core, feedback_to_core, routed_touchpoint
from leadstream.streams.services.hygiene import TrafficFilter

__all__ = ["InputDecoder", "INPUT_KINDS"]

#: the input topics by role: touchpoints, CRM verdicts, operator commands
INPUT_KINDS = ("touchpoints", "feedback", "commands")


class InputDecoder:
    def __init__(self, hygiene: HygieneSettings, max_message_bytes: int,
                 clock: Callable[[], float] | None = None) -> None:
        self._filter = (TrafficFilter(hygiene) if clock is None
                        else TrafficFilter(hygiene, clock=clock))
        self._max_bytes = max_message_bytes

    def touchpoint(self, raw: bytes) -> Touchpoint | Link:
        envelope = parse_touchpoint(raw, max_bytes=self._max_bytes)
        self._filter.check(envelope)
        return routed_touchpoint(envelope)

    def feedback(self, raw: bytes) -> Feedback:
        return feedback_to_core(parse_feedback(raw, max_bytes=self._max_bytes))

    def command(self, raw: bytes) -> MergeRequest | Erase:
        return command_to_core(parse_command(raw, max_bytes=self._max_bytes))

    def decode(self, kind: str, raw: bytes) -> Touchpoint | Link | Feedback | MergeRequest | Erase:
        """A record of the input topic with role ``kind`` (one of :data:`INPUT_KINDS`)."""
        if kind == "touchpoints":
            return self.touchpoint(raw)
        if kind == "feedback":
            return self.feedback(raw)
        if kind == "commands":
            return self.command(raw)
        raise ValueError(f"unknown input kind {kind!r}; one of {', '.join(INPUT_KINDS)}")
