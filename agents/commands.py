"""Commands agent: validate operator commands (merge, erase) and hand them to the lead agent."""

from __future__ import annotations

from typing import TYPE_CHECKING

from leadstream.agents.keying import register_keying
from leadstream.streams.encoding.inputs import InputDecoder

if TYPE_CHECKING:
    from leadstream.streams.pipeline import Pipeline

__all__ = ["register_commands"]


def register_commands(pipeline: Pipeline) -> None:
    decoder = InputDecoder(pipeline.settings.hygiene, pipeline.settings.max_message_bytes)
    register_keying(pipeline, pipeline.commands, stage="commands", to_core=decoder.command,
                    keep_origin=True)
