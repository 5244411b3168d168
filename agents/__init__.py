"""Handlers on the batch lane (streams/lane/): decode → core → what to write and send, handed to
the fetch's commit."""

from __future__ import annotations

from typing import TYPE_CHECKING

from leadstream.agents.accounts import register_accounts
from leadstream.agents.commands import register_commands
from leadstream.agents.feedback import register_feedback
from leadstream.agents.ingest import register_ingest
from leadstream.agents.leads import register_leads
from leadstream.agents.ticks import register_ticks

if TYPE_CHECKING:
    from leadstream.streams.pipeline import Pipeline

__all__ = ["register_agents", "register_accounts", "register_commands", "register_feedback", "register_ingest", "register_leads", "register_ticks"]


def register_agents(pipeline: Pipeline) -> None:
    register_ingest(pipeline)
    register_feedback(pipeline)
    register_commands(pipeline)
    register_leads(pipeline)
    register_ticks(pipeline)
    register_accounts(pipeline)
