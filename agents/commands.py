"""Commands agent: validate operator commands (merge, erase) and hand them to the lead agent."""

from __future__ import annotations

from typing import TYPE_CHECKING

from leadstream.agents.keying import register_keying
from leadstream.core.messages import Erase, MergeRequest
from leadstream.schemas.commands import parse_command
from leadstream.streams.encoding.mappers import command_to_core

if TYPE_CHECKING:
    from leadstream.streams.pipeline import Pipeline

__all__ = ["register_commands"]


def register_commands(pipeline: Pipeline) -> None:
    max_bytes = pipeline.settings.max_message_bytes

    def to_core(raw: bytes) -> MergeRequest | Erase:
        return command_to_core(parse_command(raw, max_bytes=max_bytes))

    register_keying(
        pipeline, pipeline.commands, stage="commands", to_core=to_core
    )
